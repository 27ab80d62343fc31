-- 090_elements_way_nodes: the ways that reference given nodes (etl/elements' WaysWithNodes: the
-- ways of a dragged node, for filter and analyse) without reading every way: on a city-size
-- store (1.27 million ways) a lookup took 2 s, with the index a fraction of a millisecond. About
-- 210 bytes a way. Built once at the end of a seed into an empty store (etl/elements' Load).
CREATE INDEX elements_way_nodes_idx ON elements USING gin (nodes) WHERE type = 'w';
