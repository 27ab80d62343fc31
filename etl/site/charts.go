package site

import (
	"fmt"
	"math"
	"strconv"
)

// chart is an SVG chart rendered server-side by the "chart" template: readable without JS.
type chart struct {
	Title  string
	W, H   int
	Grid   []gridLine
	Bars   []bar
	Labels []svgText
	Legend []legendItem
}

type gridLine struct {
	X1, Y1, X2, Y2, TX, TY float64
	Text                   string
}

type bar struct {
	Class      string
	X, Y, W, H float64
	Tip        string
}

type svgText struct {
	Class, Anchor, Text string
	X, Y                float64
}

type legendItem struct{ Class, Text string }

type series struct {
	Class, Name string
	Values      []float64
}

// niceMax rounds v up to 1, 2 or 5 times a power of ten.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// fmtVal prints v with at most 3 significant digits (and no exponent for chart values).
func fmtVal(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 3, 64), 64)
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// dayChart draws one bar group per day; stacked stacks the series, otherwise they stand side by side.
func dayChart(title string, days []string, ss []series, stacked bool) chart {
	const w, h, left, right, top, bottom = 600.0, 220.0, 44.0, 8.0, 10.0, 34.0
	c := chart{Title: title, W: int(w), H: int(h)}
	max := 0.0
	for i := range days {
		sum := 0.0
		for _, s := range ss {
			if stacked {
				sum += s.Values[i]
			} else if s.Values[i] > sum {
				sum = s.Values[i]
			}
		}
		if sum > max {
			max = sum
		}
	}
	max = niceMax(max)
	plotH := h - top - bottom
	plotW := w - left - right
	for i := 0; i <= 4; i++ {
		v := max * float64(i) / 4
		y := top + plotH - plotH*float64(i)/4
		c.Grid = append(c.Grid, gridLine{X1: left, Y1: y, X2: w - right, Y2: y, TX: left - 4, TY: y + 3, Text: fmtVal(v)})
	}
	n := len(days)
	if n == 0 {
		return c
	}
	slot := plotW / float64(n)
	bw := slot * 0.8
	every := int(math.Ceil(float64(n) / 10))
	for i, d := range days {
		x := left + slot*float64(i) + slot*0.1
		base := top + plotH
		for j, s := range ss {
			v := s.Values[i]
			bh := plotH * v / max
			if stacked {
				c.Bars = append(c.Bars, bar{Class: s.Class, X: round1(x), Y: round1(base - bh), W: round1(bw), H: round1(bh), Tip: fmt.Sprintf("%s %s: %s", d, s.Name, fmtVal(v))})
				base -= bh
			} else {
				sw := bw / float64(len(ss))
				c.Bars = append(c.Bars, bar{Class: s.Class, X: round1(x + sw*float64(j)), Y: round1(base - bh), W: round1(sw), H: round1(bh), Tip: fmt.Sprintf("%s %s: %s", d, s.Name, fmtVal(v))})
			}
		}
		if i%every == 0 {
			label := d
			if len(d) == 10 {
				label = d[5:]
			}
			c.Labels = append(c.Labels, svgText{Class: "axis", Anchor: "middle", Text: label, X: round1(x + bw/2), Y: h - bottom + 14})
		}
	}
	if len(ss) > 1 {
		for _, s := range ss {
			c.Legend = append(c.Legend, legendItem{Class: s.Class, Text: s.Name})
		}
	}
	return c
}

type namedValue struct {
	Name  string
	Value float64
}

// barChart draws horizontal bars, one per item.
func barChart(title string, items []namedValue) chart {
	const w, left, right, rowH, top = 600.0, 170.0, 50.0, 18.0, 4.0
	h := top*2 + rowH*float64(len(items))
	if h < 30 {
		h = 30
	}
	c := chart{Title: title, W: int(w), H: int(h)}
	max := 0.0
	for _, it := range items {
		if it.Value > max {
			max = it.Value
		}
	}
	if max <= 0 {
		max = 1
	}
	for i, it := range items {
		y := top + rowH*float64(i)
		bw := (w - left - right) * it.Value / max
		c.Bars = append(c.Bars, bar{Class: "bar", X: left, Y: round1(y + 2), W: round1(bw), H: rowH - 4, Tip: fmt.Sprintf("%s: %s", isolate(truncate(it.Name, 100)), fmtVal(it.Value))})
		c.Labels = append(c.Labels, svgText{Class: "lbl", Anchor: "end", Text: isolate(truncate(it.Name, 28)), X: left - 4, Y: round1(y + rowH - 5)})
		c.Labels = append(c.Labels, svgText{Class: "val", Anchor: "start", Text: fmtVal(it.Value), X: round1(left + bw + 4), Y: round1(y + rowH - 5)})
	}
	return c
}
