package config

import (
	"net/url"
	"strings"
)

// Redacted returns the merged configuration (files and environment) as a
// map with every password replaced by "******", for show-config.
func (c *Config) Redacted() map[string]any {
	var root map[string]any
	if c.merged != nil {
		root = c.merged.root
	}
	out, _ := redactValue("", deepCopy(root)).(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	return out
}

func redactValue(key string, v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = redactValue(k, x)
		}
		return t
	case []any:
		for i, x := range t {
			t[i] = redactValue(key, x)
		}
		return t
	}
	if isSecretKey(key) {
		if toString(v) == "" && v == nil {
			return v
		}
		return redacted
	}
	if s, ok := v.(string); ok && (key == "url" || key == "proxy") {
		return redactURL(s)
	}
	return v
}

func isSecretKey(k string) bool {
	k = strings.ToLower(k)
	return strings.Contains(k, "password") || k == "token"
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		// Unparsable: it may still hold credentials, so hide it whole.
		if strings.Contains(s, "@") {
			return redacted
		}
		return s
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), redacted)
		return strings.Replace(u.String(), url.QueryEscape(redacted), redacted, 1)
	}
	return s
}
