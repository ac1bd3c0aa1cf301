package callbacks

import (
	"errors"
	"strings"
)

// Split splits a command line the way Python's shlex.split (POSIX mode) does, which is
// how Patroni reads a callback: words separated by blanks, '...' taken literally,
// "..." with \" \\ \$ \` escapes, and a backslash outside quotes escaping the next
// character. No variables, globs or pipes: the script is not run through a shell.
func Split(s string) ([]string, error) {
	var (
		words   []string
		cur     strings.Builder
		inWord  bool
		quote   rune
		escaped bool
	)
	for _, r := range s {
		switch {
		case escaped:
			if quote == '"' && !strings.ContainsRune(`"\$`+"`\n", r) {
				cur.WriteRune('\\')
			}
			if r != '\n' || quote != 0 {
				cur.WriteRune(r)
			}
			escaped = false
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch r {
			case '"':
				quote = 0
			case '\\':
				escaped = true
			default:
				cur.WriteRune(r)
			}
		case r == '\\':
			escaped, inWord = true, true
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if escaped {
		return nil, errors.New("no escaped character after the final backslash")
	}
	if quote != 0 {
		return nil, errors.New("no closing quotation")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
