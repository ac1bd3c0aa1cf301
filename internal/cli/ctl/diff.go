package ctl

import (
	"fmt"
	"strings"
)

type opcode struct {
	tag            byte // 'e'qual, 'r'eplace, 'd'elete, 'i'nsert
	i1, i2, j1, j2 int
}

// unifiedDiff renders Python's difflib.unified_diff(a, b) with empty file names and
// three lines of context, as patronictl's edit-config prints it. The matching is a plain
// longest common subsequence; difflib's heuristics only differ on ambiguous repeats.
func unifiedDiff(before, after string) []string {
	a, b := diffLines(before), diffLines(after)
	groups := groupOpcodes(opcodes(a, b), 3)
	if len(groups) == 0 {
		return nil
	}
	out := []string{"--- ", "+++ "}
	for _, g := range groups {
		first, last := g[0], g[len(g)-1]
		out = append(out, fmt.Sprintf("@@ -%s +%s @@", unifiedRange(first.i1, last.i2), unifiedRange(first.j1, last.j2)))
		for _, op := range g {
			if op.tag == 'e' {
				for _, l := range a[op.i1:op.i2] {
					out = append(out, " "+l)
				}
				continue
			}
			if op.tag == 'r' || op.tag == 'd' {
				for _, l := range a[op.i1:op.i2] {
					out = append(out, "-"+l)
				}
			}
			if op.tag == 'r' || op.tag == 'i' {
				for _, l := range b[op.j1:op.j2] {
					out = append(out, "+"+l)
				}
			}
		}
	}
	return out
}

func diffLines(s string) []string { return strings.Split(strings.TrimRight(s, "\n"), "\n") }

func unifiedRange(start, stop int) string {
	begin, length := start+1, stop-start
	if length == 1 {
		return fmt.Sprint(begin)
	}
	if length == 0 {
		begin--
	}
	return fmt.Sprintf("%d,%d", begin, length)
}

func opcodes(a, b []string) []opcode {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var ops []opcode
	i, j := 0, 0
	for i < n || j < m {
		if i < n && j < m && a[i] == b[j] {
			si, sj := i, j
			for i < n && j < m && a[i] == b[j] {
				i, j = i+1, j+1
			}
			ops = append(ops, opcode{'e', si, i, sj, j})
			continue
		}
		si, sj := i, j
		for (i < n || j < m) && !(i < n && j < m && a[i] == b[j]) {
			if j >= m || (i < n && lcs[i+1][j] >= lcs[i][j+1]) {
				i++
			} else {
				j++
			}
		}
		tag := byte('r')
		switch {
		case si == i:
			tag = 'i'
		case sj == j:
			tag = 'd'
		}
		ops = append(ops, opcode{tag, si, i, sj, j})
	}
	return ops
}

// groupOpcodes is difflib.SequenceMatcher.get_grouped_opcodes.
func groupOpcodes(codes []opcode, n int) [][]opcode {
	if len(codes) == 0 {
		codes = []opcode{{'e', 0, 1, 0, 1}}
	}
	if c := &codes[0]; c.tag == 'e' {
		c.i1, c.j1 = max(c.i1, c.i2-n), max(c.j1, c.j2-n)
	}
	if c := &codes[len(codes)-1]; c.tag == 'e' {
		c.i2, c.j2 = min(c.i2, c.i1+n), min(c.j2, c.j1+n)
	}
	var groups [][]opcode
	var group []opcode
	for _, c := range codes {
		if c.tag == 'e' && c.i2-c.i1 > 2*n {
			group = append(group, opcode{'e', c.i1, min(c.i2, c.i1+n), c.j1, min(c.j2, c.j1+n)})
			groups = append(groups, group)
			group = nil
			c.i1, c.j1 = max(c.i1, c.i2-n), max(c.j1, c.j2-n)
		}
		group = append(group, c)
	}
	if len(group) > 0 && !(len(group) == 1 && group[0].tag == 'e') {
		groups = append(groups, group)
	}
	return groups
}
