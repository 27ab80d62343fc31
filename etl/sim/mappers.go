package sim

import (
	"fmt"
	"math/rand/v2"
)

// Editors as real ones write created_by.
const (
	edID        = "iD 2.30.4"
	edJOSM      = "JOSM/1.5 (19096 en)"
	edSC        = "StreetComplete 58.1"
	edEveryDoor = "Every Door 5.3"
	edVespucci  = "Vespucci 20.1.3.0"
	edPotlatch  = "Potlatch 2"
	edBot       = "osmapi/4.1.0"
	edGoMap     = "Go Map!! 4.3.0"
)

type mapperKind int

const (
	mRegular mapperKind = iota
	mNew
	mImporter
	mVandal
	mBot
	mReviewer
	mScript // uploads from a home-made script that writes no created_by at all
)

type mapper struct {
	uid         int64
	name        string
	editor      string
	kind        mapperKind
	changesets  int   // changesets before the simulation
	made        int   // changesets made in the simulation
	created     int64 // account creation (unix)
	blocks      int
	activeBlock bool
}

// Names that exercise escaping and unicode.
var specialNames = []string{
	"Jürgen Müller", "Zoë O'Connor", "山田太郎", "Ольга Петрова", "José Núñez", "محمد علي",
	"Tom & Jerry", "<script>alert(1)</script>", `Quote "The" Mapper`, "north/south mapper",
	`A&B <mapping> "crew"/team`, "Łukasz Żółć", "Ναυσικά", "😀 emoji mapper", "Ngô Bảo Châu",
}

var syll = []string{"ka", "lo", "mi", "ta", "ren", "so", "vi", "dan", "el", "ra", "po", "jo", "na", "ek", "is", "ur", "be", "zo"}

func genName(r *rand.Rand, i int) string {
	n := ""
	for k := 0; k < 2+r.IntN(2); k++ {
		n += syll[r.IntN(len(syll))]
	}
	switch r.IntN(4) {
	case 0:
		return fmt.Sprintf("%s%d", n, i)
	case 1:
		return fmt.Sprintf("%s_%s", n, syll[r.IntN(len(syll))])
	case 2:
		return fmt.Sprintf("%s %s%d", n, syll[r.IntN(len(syll))], i%97)
	}
	return fmt.Sprintf("%s-%d", n, i)
}

type population struct {
	all    []*mapper
	byKind map[mapperKind][]*mapper
	bg     []*mapper // planet mappers (outside the region)
	byUID  map[int64]*mapper
}

func pickEditor(r *rand.Rand) string {
	x := r.IntN(100)
	switch {
	case x < 55:
		return edID
	case x < 72:
		return edJOSM
	case x < 82:
		return edSC
	case x < 88:
		return edEveryDoor
	case x < 93:
		return edVespucci
	case x < 96:
		return edGoMap
	default:
		return edPotlatch
	}
}

func newPopulation(r *rand.Rand, start int64, planet bool) *population {
	p := &population{byKind: map[mapperKind][]*mapper{}, byUID: map[int64]*mapper{}}
	uid := int64(1200000)
	add := func(name string, kind mapperKind, editor string, bg bool) *mapper {
		uid += 1 + int64(r.IntN(40000))
		m := &mapper{uid: uid, name: name, editor: editor, kind: kind}
		switch kind {
		case mNew:
			m.changesets = r.IntN(30)
			m.created = start - int64(r.IntN(20*86400))
		case mImporter, mBot, mReviewer, mScript:
			m.changesets = 2000 + r.IntN(40000)
			m.created = start - int64(3+r.IntN(12))*365*86400
		default:
			m.changesets = 60 + r.IntN(5000)
			m.created = start - int64(1+r.IntN(4000))*86400
		}
		if kind == mVandal {
			m.changesets = 1 + r.IntN(20)
			m.created = start - int64(r.IntN(5*86400))
			m.blocks = 1
		}
		p.all = append(p.all, m)
		p.byUID[m.uid] = m
		if bg {
			p.bg = append(p.bg, m)
		} else {
			p.byKind[kind] = append(p.byKind[kind], m)
		}
		return m
	}
	for i, n := range specialNames {
		add(n, mRegular, pickEditor(r), false)
		_ = i
	}
	for i := 0; i < 50; i++ {
		add(genName(r, i), mRegular, pickEditor(r), false)
	}
	for i := 0; i < 12; i++ {
		add(genName(r, 100+i), mNew, edID, false)
	}
	add("Simstadt Import Team", mImporter, edJOSM, false)
	add("cadastre_import & co", mImporter, edJOSM, false)
	v := add("xXd3str0yerXx", mVandal, edID, false)
	v.activeBlock = true
	v.blocks = 2
	add("lol<map>", mVandal, edID, false)
	add("totally_legit_mapper", mVandal, edID, false)
	add("FixmeBot", mBot, edBot, false)
	add("simstadt_bot/2", mBot, edBot, false)
	add("Careful Reviewer", mReviewer, edJOSM, false)
	add("DWG ✓ helper", mReviewer, edJOSM, false)
	add("addr-sync script", mScript, "", false) // no editor: no created_by tag
	if planet {
		for i := 0; i < 20000; i++ {
			name := genName(r, 1000+i)
			if i%40 == 0 {
				name = specialNames[i/40%len(specialNames)] + fmt.Sprintf(" %d", i)
			}
			k := mRegular
			if r.IntN(8) == 0 {
				k = mNew
			}
			add(name, k, pickEditor(r), true)
		}
	}
	return p
}

func (p *population) pick(r *rand.Rand, k mapperKind) *mapper {
	l := p.byKind[k]
	return l[r.IntN(len(l))]
}
