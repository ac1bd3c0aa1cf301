// Command warden is the Warden HA agent and its tools.
package main

import (
	"context"
	"os"

	"github.com/warden-ha/warden/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
