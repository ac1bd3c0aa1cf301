package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxNodes bounds alias expansion ("billion laughs") in one document.
const maxNodes = 20000

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML turns a document into a map, recording each key's line in
// d.pos (a later file's positions replace an earlier one's, as its values
// do). Duplicate keys are allowed (later wins, as in PyYAML) with a warning.
func parseYAML(data []byte, source string, d *diags) (map[string]any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlError(err, source)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return map[string]any{}, nil
	}
	c := converter{source: source, d: d, budget: maxNodes}
	v, err := c.convert(doc.Content[0], "")
	if err != nil {
		return nil, err
	}
	switch m := v.(type) {
	case nil:
		return map[string]any{}, nil
	case map[string]any:
		return m, nil
	default:
		return nil, &Error{Line: doc.Content[0].Line, Source: source, Message: "the configuration must be a YAML mapping of keys to values"}
	}
}

func yamlError(err error, source string) *Error {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{Line: line, Source: source, Message: "invalid YAML: " + m[2]}
	}
	return &Error{Source: source, Message: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// maxDepth bounds nesting; real configurations are a few levels deep.
const maxDepth = 100

type converter struct {
	source string
	d      *diags
	budget int
	depth  int
	// expanding holds the alias targets being expanded, to refuse cycles
	// such as "a: &a [*a]".
	expanding map[*yaml.Node]bool
}

func (c *converter) convert(n *yaml.Node, path string) (any, error) {
	c.budget--
	if c.budget < 0 {
		return nil, &Error{Key: path, Line: n.Line, Source: c.source, Message: "document too large (alias expansion)"}
	}
	c.depth++
	defer func() { c.depth-- }()
	if c.depth > maxDepth {
		return nil, &Error{Key: path, Line: n.Line, Source: c.source, Message: "document nested too deeply"}
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.convert(n.Content[0], path)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, nil
		}
		if c.expanding[n.Alias] {
			return nil, &Error{Key: path, Line: n.Line, Source: c.source, Message: "alias refers to itself"}
		}
		if c.expanding == nil {
			c.expanding = map[*yaml.Node]bool{}
		}
		c.expanding[n.Alias] = true
		defer delete(c.expanding, n.Alias)
		return c.convert(n.Alias, path)
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, &Error{Key: path, Line: n.Line, Source: c.source, Message: "invalid value: " + err.Error()}
		}
		return scalarValue(v), nil
	case yaml.SequenceNode:
		list := make([]any, 0, len(n.Content))
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			c.d.pos[p] = pos{c.source, item.Line}
			v, err := c.convert(item, p)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		return list, nil
	case yaml.MappingNode:
		return c.mapping(n, path)
	}
	return nil, &Error{Key: path, Line: n.Line, Source: c.source, Message: "unsupported YAML node"}
}

func (c *converter) mapping(n *yaml.Node, path string) (map[string]any, error) {
	m := map[string]any{}
	explicit := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		for k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			return nil, &Error{Key: path, Line: k.Line, Source: c.source, Message: "a mapping key must be a plain value"}
		}
		if k.Tag == "!!merge" || (k.Value == "<<" && k.Style == 0) {
			if err := c.merge(m, explicit, v, path); err != nil {
				return nil, err
			}
			continue
		}
		key := k.Value
		p := joinPath(path, key)
		if explicit[key] {
			c.d.pos[p] = pos{c.source, k.Line}
			c.d.warn(p, "duplicate key, the later value (line %d) wins", k.Line)
		}
		explicit[key] = true
		c.d.pos[p] = pos{c.source, k.Line}
		val, err := c.convert(v, p)
		if err != nil {
			return nil, err
		}
		m[key] = val
	}
	return m, nil
}

// merge applies a YAML merge key (<<: *anchor): keys written explicitly win.
func (c *converter) merge(m map[string]any, explicit map[string]bool, v *yaml.Node, path string) error {
	val, err := c.convert(v, path)
	if err != nil {
		return err
	}
	var sources []any
	switch t := val.(type) {
	case map[string]any:
		sources = []any{t}
	case []any:
		sources = t
	default:
		return &Error{Key: path, Line: v.Line, Source: c.source, Message: "a merge key (<<) needs a mapping"}
	}
	for _, s := range sources {
		sm, ok := s.(map[string]any)
		if !ok {
			return &Error{Key: path, Line: v.Line, Source: c.source, Message: "a merge key (<<) needs mappings"}
		}
		for k, x := range sm {
			if !explicit[k] {
				if _, set := m[k]; !set {
					m[k] = x
				}
			}
		}
	}
	return nil
}

// scalarValue normalises decoded scalars to string, bool, int, float64 or nil.
func scalarValue(v any) any {
	switch t := v.(type) {
	case nil, string, bool, int, float64:
		return t
	case int64:
		return int(t)
	case uint64:
		return float64(t)
	case []byte:
		return string(t)
	default:
		return fmt.Sprint(t)
	}
}

// deepMerge patches dst with src like Patroni's patch_config: maps merge
// key by key, other values replace, and a null removes the key.
func deepMerge(dst, src map[string]any) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		sm, sok := v.(map[string]any)
		dm, dok := dst[k].(map[string]any)
		if sok && dok {
			deepMerge(dm, sm)
			continue
		}
		dst[k] = deepCopy(v)
	}
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = deepCopy(x)
		}
		return m
	case []any:
		l := make([]any, len(t))
		for i, x := range t {
			l[i] = deepCopy(x)
		}
		return l
	default:
		return v
	}
}
