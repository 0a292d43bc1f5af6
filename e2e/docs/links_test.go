package docs

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// linkRE finds Markdown links and their targets; code spans are removed first.
var (
	linkRE     = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	codeSpanRE = regexp.MustCompile("`[^`]*`")
)

// TestLinks: every relative link in the repository's Markdown leads to a file or folder that
// exists, and every #fragment to a heading of its file. Links outside the repository (SPEC.md
// is kept beside it) and web addresses are not checked.
func TestLinks(t *testing.T) {
	root := repoRoot(t)
	docs := markdownFiles(t, root)
	anchors := map[string]map[string]bool{}
	for _, d := range docs {
		anchors[d.path] = d.anchors()
	}
	checked := 0
	for _, d := range docs {
		for i, l := range d.prose() {
			for _, m := range linkRE.FindAllStringSubmatch(codeSpanRE.ReplaceAllString(l, ""), -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				file, frag, _ := strings.Cut(target, "#")
				where := d.path + ":" + strconv.Itoa(i+1)
				rel := d.path
				if file != "" {
					rel = path.Clean(path.Join(path.Dir(d.path), file))
					if rel == ".." || strings.HasPrefix(rel, "../") {
						continue // outside the repository
					}
					if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel))); err != nil {
						t.Errorf("%s: link %q: no such file or folder %s", where, target, rel)
						continue
					}
				}
				checked++
				if frag == "" {
					continue
				}
				a, ok := anchors[rel]
				if !ok {
					t.Errorf("%s: link %q: a fragment into %s, which is not a Markdown file of the repository", where, target, rel)
					continue
				}
				if !a[frag] {
					t.Errorf("%s: link %q: %s has no heading #%s", where, target, rel, frag)
				}
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d links checked: is the link pattern still right?", checked)
	}
}
