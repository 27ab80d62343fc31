package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/osmtrack/osmtrack/etl/config"
	"github.com/osmtrack/osmtrack/etl/region"
)

// Set is a loaded, checked rule set.
type Set struct {
	File          string
	Rules         []*Rule
	prefilter     expr // nil: the default (an edit inside a region)
	prefilterDesc string
	regions       region.Set
}

// Rule is one label rule.
type Rule struct {
	Label       string
	Description string
	Where       string // "file:line"
	cond        cond
	analysis    bool // has a reason predicate: evaluable only after analysis
}

// NeedsAnalysis reports whether the rule has a reason predicate.
func (r *Rule) NeedsAnalysis() bool { return r.analysis }

// Regions returns the regions the rules use (those of the configuration plus any defined in
// the rules file).
func (s *Set) Regions() region.Set { return s.regions }

// Labels returns the labels the rules define, in order.
func (s *Set) Labels() []string {
	out := make([]string, len(s.Rules))
	for i, r := range s.Rules {
		out[i] = r.Label
	}
	return out
}

// Load builds the rule set the configuration describes: rules.file or the inline
// rules.labels and rules.prefilter, over the configured regions (already loaded).
func Load(cfg *config.Config, regions region.Set) (*Set, error) {
	rc := cfg.Rules
	if rc.File != "" {
		if rc.Labels.Kind != 0 || rc.Prefilter.Kind != 0 {
			return nil, &Error{File: cfg.Path, Line: max(rc.Labels.Line, rc.Prefilter.Line), Msg: "rules: give file or inline labels/prefilter, not both"}
		}
		return LoadFile(rc.File, regions)
	}
	name := cfg.Path
	if name == "" {
		name = "(config)"
	}
	p := &parser{file: name, regions: regions}
	var labels, prefilter *yaml.Node
	if rc.Labels.Kind != 0 {
		labels = &rc.Labels
	}
	if rc.Prefilter.Kind != 0 {
		prefilter = &rc.Prefilter
	}
	return p.build(labels, prefilter)
}

// LoadFile reads a rules file (keys regions, labels, prefilter). Regions it defines are added
// to base; their files are relative to the rules file.
func LoadFile(path string, base region.Set) (*Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	return Parse(data, path, base)
}

// Parse reads a rules document; file names it in errors and resolves region files.
func Parse(data []byte, file string, base region.Set) (*Set, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: file, Msg: "empty rules file"}
		}
		return nil, &Error{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	p := &parser{file: file, regions: base}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	kvs, err := p.mapping(root, "the rules file")
	if err != nil {
		return nil, err
	}
	var labels, prefilter *yaml.Node
	for _, kv := range kvs {
		switch kv.key {
		case "labels":
			labels = kv.val
		case "prefilter":
			prefilter = kv.val
		case "regions":
			if err := p.loadRegions(kv.val, filepath.Dir(file)); err != nil {
				return nil, err
			}
		default:
			return nil, p.errf(kv.keyNode, "unknown key %q (want regions, labels, prefilter)", kv.key)
		}
	}
	return p.build(labels, prefilter)
}

type parser struct {
	file    string
	regions region.Set
}

type keyVal struct {
	key     string
	keyNode *yaml.Node
	val     *yaml.Node
}

func (p *parser) errf(n *yaml.Node, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &Error{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) mapping(n *yaml.Node, what string) ([]keyVal, error) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(n, "%s must be a mapping", what)
	}
	seen := map[string]bool{}
	var out []keyVal
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		if seen[k.Value] {
			return nil, p.errf(k, "duplicate key %q", k.Value)
		}
		seen[k.Value] = true
		out = append(out, keyVal{k.Value, k, v})
	}
	return out, nil
}

func (p *parser) loadRegions(n *yaml.Node, dir string) error {
	kvs, err := p.mapping(n, "regions")
	if err != nil {
		return err
	}
	var more region.Set
	for _, kv := range kvs {
		if p.regions.Get(kv.key) != nil {
			return p.errf(kv.keyNode, "region %q is already defined in the configuration", kv.key)
		}
		var r config.Region
		rk, err := p.mapping(kv.val, "regions."+kv.key)
		if err != nil {
			return err
		}
		for _, f := range rk {
			switch f.key {
			case "file":
				r.File = config.ResolvePath(dir, f.val.Value)
			case "geojson":
				r.GeoJSON = *f.val
			case "buffer_m":
				if r.BufferM, err = p.float(f.val, "buffer_m"); err != nil {
					return err
				}
			default:
				return p.errf(f.keyNode, "unknown key %q in region (want file, geojson, buffer_m)", f.key)
			}
		}
		reg, err := region.Load(kv.key, r)
		if err != nil {
			return p.errf(kv.keyNode, "%v", err)
		}
		more = append(more, reg)
	}
	merged := append(append(region.Set{}, p.regions...), more...)
	sort.Slice(merged, func(i, j int) bool { return merged[i].Name < merged[j].Name })
	p.regions = merged
	return nil
}

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

func (p *parser) build(labels, prefilter *yaml.Node) (*Set, error) {
	s := &Set{File: p.file, regions: p.regions}
	byLabel := map[string]*Rule{}
	if labels != nil && !(labels.Kind == yaml.ScalarNode && labels.Tag == "!!null") {
		if labels.Kind != yaml.SequenceNode {
			return nil, p.errf(labels, "labels must be a list of rules")
		}
		for _, rn := range labels.Content {
			r, err := p.rule(rn)
			if err != nil {
				return nil, err
			}
			if prev := byLabel[r.Label]; prev != nil {
				return nil, p.errf(rn, "label %q is already defined at %s (combine the conditions with any)", r.Label, prev.Where)
			}
			byLabel[r.Label] = r
			s.Rules = append(s.Rules, r)
		}
	}
	if prefilter != nil && !(prefilter.Kind == yaml.ScalarNode && prefilter.Tag == "!!null") {
		index := map[string]int{}
		for i, r := range s.Rules {
			index[r.Label] = i
		}
		e, err := p.expr(prefilter, byLabel, index)
		if err != nil {
			return nil, err
		}
		s.prefilter, s.prefilterDesc = e, e.describe()
	}
	return s, nil
}

func (p *parser) rule(n *yaml.Node) (*Rule, error) {
	kvs, err := p.mapping(n, "a rule")
	if err != nil {
		return nil, err
	}
	r := &Rule{Where: fmt.Sprintf("%s:%d", filepath.Base(p.file), n.Line)}
	cond := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column}
	for _, kv := range kvs {
		switch kv.key {
		case "label":
			r.Label = kv.val.Value
			if kv.val.Kind != yaml.ScalarNode || !slugRE.MatchString(r.Label) {
				return nil, p.errf(kv.val, "label %q must be a slug: lower-case letters, digits, - and _", kv.val.Value)
			}
		case "description":
			if kv.val.Kind != yaml.ScalarNode {
				return nil, p.errf(kv.val, "description must be text")
			}
			r.Description = kv.val.Value
		default:
			cond.Content = append(cond.Content, kv.keyNode, kv.val)
		}
	}
	if r.Label == "" {
		return nil, p.errf(n, "rule has no label")
	}
	if len(cond.Content) == 0 {
		return nil, p.errf(n, "rule %q has no condition (all, any, not or a predicate)", r.Label)
	}
	c, err := p.cond(cond)
	if err != nil {
		return nil, err
	}
	r.cond = c
	r.analysis = c.needsAnalysis()
	return r, nil
}

// heads are the keys that start a condition; the value says which option keys may accompany it.
var heads = map[string][]string{
	"all": nil, "any": nil, "not": nil,
	"region":         {"match", "max_bbox_ratio"},
	"tag":            {"regex", "contains", "equals", "exists", "case_sensitive"},
	"comment":        nil,
	"source":         nil,
	"created_by":     nil,
	"imagery_used":   nil,
	"hashtags":       nil,
	"user":           nil,
	"uid":            nil,
	"editor":         {"case_sensitive"},
	"element":        nil,
	"count":          nil,
	"comments_count": nil,
	"changes_count":  nil,
	"open":           nil,
	"reason":         nil,
	"reasons":        nil,
}

func headNames() string {
	var h []string
	for k := range heads {
		h = append(h, k)
	}
	sort.Strings(h)
	return strings.Join(h, ", ")
}

func (p *parser) cond(n *yaml.Node) (cond, error) {
	c, err := p.cond1(n)
	if err != nil {
		return nil, err
	}
	return finish(c), nil
}

func (p *parser) cond1(n *yaml.Node) (cond, error) {
	kvs, err := p.mapping(n, "a condition")
	if err != nil {
		return nil, err
	}
	var head *keyVal
	opts := map[string]keyVal{}
	for i := range kvs {
		kv := kvs[i]
		if _, ok := heads[kv.key]; ok {
			if head != nil {
				return nil, p.errf(kv.keyNode, "%q and %q in one condition: put them under all or any", head.key, kv.key)
			}
			head = &kvs[i]
			continue
		}
		opts[kv.key] = kv
	}
	if head == nil {
		k := kvs[0]
		return nil, p.errf(k.keyNode, "unknown key %q: a condition is one of %s", k.key, headNames())
	}
	allowed := heads[head.key]
	for k, kv := range opts {
		if !contains(allowed, k) {
			if len(allowed) == 0 {
				return nil, p.errf(kv.keyNode, "unknown key %q next to %s", k, head.key)
			}
			return nil, p.errf(kv.keyNode, "unknown key %q next to %s (want %s)", k, head.key, strings.Join(allowed, ", "))
		}
	}
	v := head.val
	switch head.key {
	case "all", "any":
		if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
			return nil, p.errf(v, "%s needs a non-empty list of conditions", head.key)
		}
		var cs []cond
		for _, cn := range v.Content {
			c, err := p.cond(cn)
			if err != nil {
				return nil, err
			}
			cs = append(cs, c)
		}
		if head.key == "all" {
			return &allCond{cs}, nil
		}
		return &anyCond{cs}, nil
	case "not":
		c, err := p.cond(v)
		if err != nil {
			return nil, err
		}
		return &notCond{c: c}, nil
	case "region":
		return p.regionPred(head, opts)
	case "tag":
		if v.Kind != yaml.ScalarNode || v.Value == "" {
			return nil, p.errf(v, "tag needs a key, e.g. tag: comment")
		}
		return p.tagPred(v.Value, head.keyNode, opts)
	case "comment", "source", "created_by", "imagery_used", "hashtags":
		m, err := p.optMap(v, head.key, []string{"regex", "contains", "equals", "exists", "case_sensitive"})
		if err != nil {
			return nil, err
		}
		return p.tagPred(head.key, head.keyNode, m)
	case "user":
		names, err := p.strings(v, "user")
		if err != nil {
			return nil, err
		}
		return &userPred{names: names}, nil
	case "uid":
		ss, err := p.strings(v, "uid")
		if err != nil {
			return nil, err
		}
		ids := map[int64]bool{}
		for _, s := range ss {
			id, err := strconv.ParseInt(s, 10, 64)
			if err != nil || id <= 0 {
				return nil, p.errf(v, "uid %q is not a user id", s)
			}
			ids[id] = true
		}
		return &uidPred{ids: ids, list: ss}, nil
	case "editor":
		cs, err := p.optBool(opts, "case_sensitive")
		if err != nil {
			return nil, err
		}
		re, err := p.regex(v, cs)
		if err != nil {
			return nil, err
		}
		return &editorPred{re: re, src: v.Value}, nil
	case "element":
		return p.elementPred(v)
	case "count":
		return p.countPred(v)
	case "comments_count", "changes_count":
		r, err := p.rangeOf(v, head.key, nil)
		if err != nil {
			return nil, err
		}
		return &numPred{what: head.key, r: r}, nil
	case "open":
		b, err := p.bool(v, "open")
		if err != nil {
			return nil, err
		}
		return &openPred{want: b}, nil
	case "reason", "reasons":
		codes, err := p.strings(v, head.key)
		if err != nil {
			return nil, err
		}
		return &reasonPred{codes: codes}, nil
	}
	return nil, p.errf(head.keyNode, "unknown condition %q", head.key)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (p *parser) optMap(n *yaml.Node, what string, allowed []string) (map[string]keyVal, error) {
	kvs, err := p.mapping(n, what)
	if err != nil {
		return nil, err
	}
	m := map[string]keyVal{}
	for _, kv := range kvs {
		if !contains(allowed, kv.key) {
			return nil, p.errf(kv.keyNode, "unknown key %q in %s (want %s)", kv.key, what, strings.Join(allowed, ", "))
		}
		m[kv.key] = kv
	}
	return m, nil
}

func (p *parser) optBool(m map[string]keyVal, key string) (bool, error) {
	kv, ok := m[key]
	if !ok {
		return false, nil
	}
	return p.bool(kv.val, key)
}

func (p *parser) bool(n *yaml.Node, what string) (bool, error) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
		return false, p.errf(n, "%s must be true or false", what)
	}
	return b, nil
}

func (p *parser) float(n *yaml.Node, what string) (float64, error) {
	var f float64
	if n.Kind != yaml.ScalarNode || n.Decode(&f) != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, p.errf(n, "%s must be a number", what)
	}
	return f, nil
}

// strings accepts a scalar or a list of scalars.
func (p *parser) strings(n *yaml.Node, what string) ([]string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Value == "" {
			return nil, p.errf(n, "%s must not be empty", what)
		}
		return []string{n.Value}, nil
	case yaml.SequenceNode:
		var out []string
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode || c.Value == "" {
				return nil, p.errf(c, "%s list items must be non-empty text", what)
			}
			out = append(out, c.Value)
		}
		if len(out) == 0 {
			return nil, p.errf(n, "%s list is empty", what)
		}
		return out, nil
	}
	return nil, p.errf(n, "%s must be a value or a list", what)
}

func (p *parser) regex(n *yaml.Node, caseSensitive bool) (*regexp.Regexp, error) {
	if n.Kind != yaml.ScalarNode || n.Value == "" {
		return nil, p.errf(n, "expected a regular expression")
	}
	src := n.Value
	if !caseSensitive {
		src = "(?i)" + src
	}
	re, err := regexp.Compile(src)
	if err != nil {
		return nil, p.errf(n, "regular expression %q: %v", n.Value, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	return re, nil
}

func (p *parser) regionPred(head *keyVal, opts map[string]keyVal) (cond, error) {
	names, err := p.strings(head.val, "region")
	if err != nil {
		return nil, err
	}
	rp := &regionPred{mode: "edits", names: names}
	for _, n := range names {
		r := p.regions.Get(n)
		if r == nil {
			var known []string
			for _, r := range p.regions {
				known = append(known, r.Name)
			}
			if len(known) == 0 {
				return nil, p.errf(head.val, "unknown region %q: no regions are defined", n)
			}
			return nil, p.errf(head.val, "unknown region %q (defined: %s)", n, strings.Join(known, ", "))
		}
		rp.regions = append(rp.regions, r)
	}
	if kv, ok := opts["match"]; ok {
		switch kv.val.Value {
		case "edits", "bbox", "centroid":
			rp.mode = kv.val.Value
		default:
			return nil, p.errf(kv.val, "match must be edits, bbox or centroid, not %q", kv.val.Value)
		}
	}
	if kv, ok := opts["max_bbox_ratio"]; ok {
		f, err := p.float(kv.val, "max_bbox_ratio")
		if err != nil {
			return nil, err
		}
		if f <= 0 {
			return nil, p.errf(kv.val, "max_bbox_ratio must be positive")
		}
		rp.maxRatio = f
	}
	return rp, nil
}

func (p *parser) tagPred(key string, at *yaml.Node, opts map[string]keyVal) (cond, error) {
	cs, err := p.optBool(opts, "case_sensitive")
	if err != nil {
		return nil, err
	}
	tp := &tagPred{key: key, caseSensitive: cs}
	n := 0
	for _, op := range []string{"regex", "contains", "equals", "exists"} {
		kv, ok := opts[op]
		if !ok {
			continue
		}
		n++
		tp.op = op
		switch op {
		case "regex":
			if tp.re, err = p.regex(kv.val, cs); err != nil {
				return nil, err
			}
			tp.arg = kv.val.Value
		case "contains", "equals":
			if kv.val.Kind != yaml.ScalarNode || (op == "contains" && kv.val.Value == "") {
				return nil, p.errf(kv.val, "%s needs text", op)
			}
			tp.arg = kv.val.Value
			tp.argFold = strings.ToLower(kv.val.Value)
		case "exists":
			if tp.exists, err = p.bool(kv.val, "exists"); err != nil {
				return nil, err
			}
		}
	}
	if n != 1 {
		return nil, p.errf(at, "tag %q needs exactly one of regex, contains, equals, exists", key)
	}
	return tp, nil
}

var (
	actions = []string{"create", "modify", "delete", "any"}
	types   = []string{"node", "way", "relation", "any"}
)

func (p *parser) actionType(m map[string]keyVal) (action, typ string, err error) {
	action, typ = "any", "any"
	if kv, ok := m["action"]; ok {
		if !contains(actions, kv.val.Value) {
			return "", "", p.errf(kv.val, "action must be create, modify, delete or any, not %q", kv.val.Value)
		}
		action = kv.val.Value
	}
	if kv, ok := m["type"]; ok {
		if !contains(types, kv.val.Value) {
			return "", "", p.errf(kv.val, "type must be node, way, relation or any, not %q", kv.val.Value)
		}
		typ = kv.val.Value
	}
	return action, typ, nil
}

func (p *parser) elementPred(n *yaml.Node) (cond, error) {
	m, err := p.optMap(n, "element", []string{"action", "type", "key", "value", "old", "min", "case_sensitive"})
	if err != nil {
		return nil, err
	}
	ep := &elementPred{min: 1}
	if ep.action, ep.typ, err = p.actionType(m); err != nil {
		return nil, err
	}
	if ep.caseSensitive, err = p.optBool(m, "case_sensitive"); err != nil {
		return nil, err
	}
	if ep.old, err = p.optBool(m, "old"); err != nil {
		return nil, err
	}
	if kv, ok := m["key"]; ok {
		if kv.val.Kind != yaml.ScalarNode || kv.val.Value == "" {
			return nil, p.errf(kv.val, "key needs a tag key, or a regex starting with ^")
		}
		ep.key = kv.val.Value
		if strings.HasPrefix(ep.key, "^") {
			// Keys are matched case-sensitively: OSM keys are lower case by convention and
			// "Name" is a different key from "name".
			if ep.keyRE, err = p.regex(kv.val, true); err != nil {
				return nil, err
			}
		}
	}
	if kv, ok := m["value"]; ok {
		if ep.key == "" {
			return nil, p.errf(kv.keyNode, "value needs a key next to it")
		}
		if ep.valueRE, err = p.regex(kv.val, ep.caseSensitive); err != nil {
			return nil, err
		}
		ep.value = kv.val.Value
	}
	if kv, ok := m["min"]; ok {
		f, err := p.float(kv.val, "min")
		if err != nil || f < 1 || f != math.Trunc(f) {
			return nil, p.errf(kv.val, "min must be a whole number of at least 1")
		}
		ep.min = int(f)
	}
	return ep, nil
}

type numRange struct {
	min, max      float64
	hasMin, hasMx bool
}

// rangeOf reads min/max (or >=/<=) from a mapping; extra lists further allowed keys.
func (p *parser) rangeOf(n *yaml.Node, what string, extra []string) (numRange, error) {
	allowed := append([]string{"min", "max", ">=", "<="}, extra...)
	m, err := p.optMap(n, what, allowed)
	if err != nil {
		return numRange{}, err
	}
	var r numRange
	for _, k := range []string{"min", ">="} {
		if kv, ok := m[k]; ok {
			if r.hasMin {
				return r, p.errf(kv.keyNode, "both min and >= given")
			}
			if r.min, err = p.float(kv.val, k); err != nil {
				return r, err
			}
			r.hasMin = true
		}
	}
	for _, k := range []string{"max", "<="} {
		if kv, ok := m[k]; ok {
			if r.hasMx {
				return r, p.errf(kv.keyNode, "both max and <= given")
			}
			if r.max, err = p.float(kv.val, k); err != nil {
				return r, err
			}
			r.hasMx = true
		}
	}
	if !r.hasMin && !r.hasMx && len(extra) == 0 {
		return r, p.errf(n, "%s needs min (>=) or max (<=)", what)
	}
	return r, nil
}

func (p *parser) countPred(n *yaml.Node) (cond, error) {
	extra := []string{"action", "type", "min_ratio", "max_ratio"}
	r, err := p.rangeOf(n, "count", extra)
	if err != nil {
		return nil, err
	}
	m, _ := p.optMap(n, "count", append([]string{"min", "max", ">=", "<="}, extra...))
	cp := &countPred{r: r}
	if cp.action, cp.typ, err = p.actionType(m); err != nil {
		return nil, err
	}
	if kv, ok := m["min_ratio"]; ok {
		if cp.minRatio, err = p.float(kv.val, "min_ratio"); err != nil {
			return nil, err
		}
		cp.hasMinRatio = true
	}
	if kv, ok := m["max_ratio"]; ok {
		if cp.maxRatio, err = p.float(kv.val, "max_ratio"); err != nil {
			return nil, err
		}
		cp.hasMaxRatio = true
	}
	if !r.hasMin && !r.hasMx && !cp.hasMinRatio && !cp.hasMaxRatio {
		return nil, p.errf(n, "count needs min (>=), max (<=), min_ratio or max_ratio")
	}
	return cp, nil
}

// expr parses the prefilter: a label name, a list (any of), or {any|all: [...]}, {not: ...}.
func (p *parser) expr(n *yaml.Node, labels map[string]*Rule, index map[string]int) (expr, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		r := labels[n.Value]
		if r == nil {
			return nil, p.errf(n, "prefilter: unknown label %q", n.Value)
		}
		if r.analysis {
			return nil, p.errf(n, "prefilter: label %q needs the analysis (it has a reason predicate), so it cannot decide what gets analysed", n.Value)
		}
		return labelExpr{name: n.Value, idx: index[n.Value]}, nil
	case yaml.SequenceNode:
		return p.exprList(n, "any", labels, index)
	case yaml.MappingNode:
		kvs, err := p.mapping(n, "prefilter")
		if err != nil {
			return nil, err
		}
		if len(kvs) != 1 {
			return nil, p.errf(n, "prefilter: one of any, all, not per mapping")
		}
		kv := kvs[0]
		switch kv.key {
		case "any", "all":
			return p.exprList(kv.val, kv.key, labels, index)
		case "not":
			e, err := p.expr(kv.val, labels, index)
			if err != nil {
				return nil, err
			}
			return &notExpr{e}, nil
		}
		return nil, p.errf(kv.keyNode, "prefilter: unknown key %q (want a label, any, all or not)", kv.key)
	}
	return nil, p.errf(n, "prefilter must be a label, a list of labels, or any/all/not")
}

func (p *parser) exprList(n *yaml.Node, op string, labels map[string]*Rule, index map[string]int) (expr, error) {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		return nil, p.errf(n, "prefilter: %s needs a non-empty list", op)
	}
	var es []expr
	for _, c := range n.Content {
		e, err := p.expr(c, labels, index)
		if err != nil {
			return nil, err
		}
		es = append(es, e)
	}
	return &listExpr{op: op, es: es}, nil
}
