package ctl

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// errAborted is click's Abort: input ended while a prompt waited.
var errAborted = errors.New("Aborted!")

// prompter asks questions the way click.prompt and click.confirm do, on stdout.
type prompter struct {
	in  *bufio.Reader
	out io.Writer
}

func (p prompter) readLine() (string, error) {
	line, err := p.in.ReadString('\n')
	if err != nil && (line == "" || !errors.Is(err, io.EOF)) {
		fmt.Fprintln(p.out)
		return "", errAborted
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// ask shows "text [default]: " (no brackets when hasDefault is false) and repeats
// while the answer is empty and there is no default.
func (p prompter) ask(text string, def string, hasDefault bool) (string, error) {
	q := text
	if hasDefault {
		q += " [" + def + "]"
	}
	for {
		fmt.Fprint(p.out, q+": ")
		line, err := p.readLine()
		if err != nil {
			return "", err
		}
		if line != "" {
			return line, nil
		}
		if hasDefault {
			return def, nil
		}
	}
}

// confirm is click.confirm with default No.
func (p prompter) confirm(text string) (bool, error) {
	for {
		fmt.Fprint(p.out, text+" [y/N]: ")
		line, err := p.readLine()
		if err != nil {
			return false, err
		}
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "y", "yes":
			return true, nil
		case "n", "no", "":
			return false, nil
		}
		fmt.Fprintln(p.out, "Error: invalid input")
	}
}
