package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"reflect"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/config"
	"github.com/warden-ha/warden/internal/dcs"
)

type editOptions struct {
	quiet, force  bool
	sets, pgs     []string
	apply, replce string
}

func (a *app) editConfigCommand() *cobra.Command {
	var o editOptions
	cmd := &cobra.Command{
		Use:   "edit-config [CLUSTER_NAME]",
		Short: "Edit cluster configuration",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := a.clusterName(args)
			if err != nil {
				return err
			}
			return a.withCluster(cmd.Context(), name, func(store dcs.Store, c *cluster.Cluster) error {
				return a.editConfig(cmd.Context(), store, c, name, o)
			})
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Do not show changes")
	f.StringArrayVarP(&o.sets, "set", "s", nil, "Set specific configuration value. Can be specified multiple times")
	f.StringArrayVarP(&o.pgs, "pg", "p", nil, "Set specific PostgreSQL parameter value. Shorthand for -s postgresql.parameters. Can be specified multiple times")
	f.StringVar(&o.apply, "apply", "", "Apply configuration from file. Use - for stdin.")
	f.StringVar(&o.replce, "replace", "", "Apply configuration from file, replacing existing configuration. Use - for stdin.")
	f.BoolVar(&o.force, "force", false, "Do not ask for confirmation at any point")
	addGroupFlag(cmd)
	return cmd
}

func (a *app) editConfig(ctx context.Context, store dcs.Store, c *cluster.Cluster, name string, o editOptions) error {
	current := c.Config
	if current == nil {
		current = map[string]any{}
	}
	before := dumpConfig(current)
	changed := deepCopy(current).(map[string]any)
	var after string
	edited := false
	if o.replce != "" {
		opts, err := a.readYAMLFile(o.replce)
		if err != nil {
			return err
		}
		changed = map[string]any{}
		patchConfig(changed, opts)
		edited = true
	}
	if o.apply != "" {
		opts, err := a.readYAMLFile(o.apply)
		if err != nil {
			return err
		}
		patchConfig(changed, opts)
		edited = true
	}
	if len(o.sets) > 0 || len(o.pgs) > 0 {
		pairs := append([]string{}, o.sets...)
		for _, p := range o.pgs {
			pairs = append(pairs, "postgresql.parameters."+strings.TrimLeft(p, " \t"))
		}
		if err := applyPairs(changed, pairs); err != nil {
			return err
		}
		edited = true
	}
	after = dumpConfig(changed)
	if !edited {
		text, err := a.invokeEditor(ctx, before, name)
		if err != nil {
			return err
		}
		after = text
		v, err := parseYAML([]byte(text))
		if err != nil {
			return err
		}
		m, _ := v.(map[string]any)
		changed = m
	}
	if reflect.DeepEqual(normalizeNumbers(current), normalizeNumbers(changed)) {
		if !o.quiet {
			a.println("Not changed")
		}
		return nil
	}
	if !o.quiet {
		for _, l := range unifiedDiff(before, after) {
			a.println(l)
		}
	}
	if (o.apply == "-" || o.replce == "-") && !o.force {
		a.println("Use --force option to apply changes")
		return nil
	}
	if !o.force {
		ok, err := a.confirm("Apply these changes?")
		if err != nil || !ok {
			return err
		}
	}
	if d, _ := config.ParseDynamic(changed); d.TimingNote != "" {
		a.println("# " + d.TimingsNote())
	}
	body, err := json.Marshal(changed)
	if err != nil {
		return err
	}
	ok, err := store.SetConfig(ctx, body, c.ConfigRevision)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("Config modification aborted due to concurrent changes")
	}
	a.println("Configuration changed")
	return nil
}

func (a *app) readYAMLFile(name string) (map[string]any, error) {
	var data []byte
	var err error
	if name == "-" {
		data, err = io.ReadAll(a.in)
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, err
	}
	v, err := parseYAML(data)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok && v != nil {
		return nil, fmt.Errorf("%s: expected a YAML mapping", name)
	}
	return m, nil
}

// applyPairs is patronictl's apply_config_changes: dotted paths, values parsed as YAML,
// null deletes, GUC names under postgresql.parameters kept whole (they contain dots).
func applyPairs(cfg map[string]any, pairs []string) error {
	for _, p := range pairs {
		key, value, ok := strings.Cut(p, "=")
		if p == "" || !ok {
			return fmt.Errorf("Invalid parameter setting %s", p)
		}
		v, err := parseYAML([]byte(value))
		if err != nil {
			return fmt.Errorf("Invalid parameter setting %s: %w", p, err)
		}
		setPath(cfg, strings.Split(strings.TrimSpace(key), "."), v, nil)
	}
	return nil
}

func setPath(cfg map[string]any, path []string, value any, prefix []string) {
	if len(prefix) == 2 && prefix[0] == "postgresql" && prefix[1] == "parameters" {
		path = []string{strings.Join(path, ".")}
	}
	key := path[0]
	if len(path) == 1 {
		if value == nil {
			delete(cfg, key)
		} else {
			cfg[key] = value
		}
		return
	}
	next, ok := cfg[key].(map[string]any)
	if !ok {
		next = map[string]any{}
		cfg[key] = next
	}
	setPath(next, path[1:], value, append(append([]string{}, prefix...), key))
	if len(next) == 0 {
		delete(cfg, key)
	}
}

// patchConfig is patroni.utils.patch_config: recursive merge, null deletes, scalars
// compared by their string forms.
func patchConfig(cfg, data map[string]any) {
	for k, v := range data {
		old, exists := cfg[k]
		switch {
		case v == nil:
			delete(cfg, k)
		case !exists:
			cfg[k] = v
		default:
			if vm, ok := v.(map[string]any); ok {
				if om, ok := old.(map[string]any); ok {
					patchConfig(om, vm)
				} else {
					cfg[k] = v
				}
			} else if pyStr(old) != pyStr(v) {
				cfg[k] = v
			}
		}
	}
}

func pyStr(v any) string {
	switch t := v.(type) {
	case bool:
		if t {
			return "True"
		}
		return "False"
	case float64:
		return yamlFloatString(t)
	}
	return fmt.Sprint(v)
}

func (a *app) invokeEditor(ctx context.Context, before, name string) (string, error) {
	editor := strings.Fields(a.getenv("EDITOR"))
	if len(editor) == 0 {
		for _, e := range []string{"editor", "vi"} {
			if p, err := exec.LookPath(e); err == nil {
				editor = []string{p}
				break
			}
		}
	}
	if len(editor) == 0 {
		return "", errors.New("EDITOR environment variable is not set. editor or vi are not available")
	}
	// A cluster name may contain a slash, which a file name cannot (Patroni 4.0.5).
	f, err := os.CreateTemp("", strings.ReplaceAll(name, "/", "_")+"-config-*.yaml")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(before); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, editor[0], append(editor[1:], f.Name())...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("Editor exited with return code %d", ee.ExitCode())
		}
		return "", err
	}
	b, err := os.ReadFile(f.Name())
	return string(b), err
}

// parseYAML decodes with YAML 1.1 scalars, as PyYAML's safe_load does: plain yes/no/on/off
// are booleans (yaml.v3 reads them as strings).
func parseYAML(data []byte) (any, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return nil, err
	}
	if n.Kind == 0 {
		return nil, nil
	}
	return nodeValue(&n)
}

func nodeValue(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		return nodeValue(n.Content[0])
	case yaml.AliasNode:
		return nodeValue(n.Alias)
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, err := nodeValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := nodeValue(c)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	}
	if n.Style == 0 && n.Tag == "!!str" && yamlBool.MatchString(n.Value) {
		switch strings.ToLower(n.Value) {
		case "yes", "on", "true":
			return true, nil
		}
		return false, nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, e := range t {
			s[i] = deepCopy(e)
		}
		return s
	}
	return v
}

// normalizeNumbers makes 30 (int from YAML) and 30.0 (float64 from JSON) compare equal.
func normalizeNumbers(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = normalizeNumbers(e)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, e := range t {
			s[i] = normalizeNumbers(e)
		}
		return s
	case int:
		return float64(t)
	case int64:
		return float64(t)
	case uint64:
		return float64(t)
	case string:
		return t
	}
	return v
}
