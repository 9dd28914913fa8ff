// Command vulnerable calls a symbol of a module version with a known vulnerability
// (golang.org/x/text v0.3.7, language.ParseAcceptLanguage: GO-2022-1059, fixed in v0.3.8), so
// that `make vuln` can prove its govulncheck run reports a called vulnerable symbol and fails.
// It is a module of its own, outside the product's module graph and its ./... patterns.
package main

import (
	"fmt"

	"golang.org/x/text/language"
)

func main() {
	tags, q, err := language.ParseAcceptLanguage("en-US,de;q=0.8")
	fmt.Println(tags, q, err)
}
