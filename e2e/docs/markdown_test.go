package docs

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/passwordless-verify/filter/e2e/envoyrun"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := envoyrun.Root()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// doc is one Markdown file of the repository.
type doc struct {
	path   string // from the repository root
	lines  []string
	blocks []block
}

// block is a fenced code block.
type block struct {
	doc  string
	line int // of the opening fence, 1-based
	lang string
	text []string // the lines between the fences
}

func (b block) String() string { return b.doc + ":" + strconv.Itoa(b.line) }

// markdownFiles lists the repository's Markdown files: every README.md, the benchmark results.
// build/ and node_modules are products, not ours.
func markdownFiles(t *testing.T, root string) []doc {
	t.Helper()
	var docs []doc
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && (d.Name() == "build" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".md") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		docs = append(docs, parseDoc(filepath.ToSlash(rel), string(b)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) == 0 {
		t.Fatal("no Markdown files under " + root)
	}
	return docs
}

func readmes(t *testing.T, root string) []doc {
	var out []doc
	for _, d := range markdownFiles(t, root) {
		if filepath.Base(d.path) == "README.md" {
			out = append(out, d)
		}
	}
	return out
}

func parseDoc(path, text string) doc {
	d := doc{path: path, lines: strings.Split(text, "\n")}
	var cur *block
	for i, l := range d.lines {
		switch {
		case cur == nil && strings.HasPrefix(l, "```"):
			cur = &block{doc: path, line: i + 1, lang: strings.TrimSpace(strings.TrimPrefix(l, "```"))}
		case cur != nil && strings.TrimSpace(l) == "```":
			d.blocks = append(d.blocks, *cur)
			cur = nil
		case cur != nil:
			cur.text = append(cur.text, l)
		}
	}
	return d
}

// prose is the text outside code blocks, one string per line ("" for code lines).
func (d doc) prose() []string {
	out := make([]string, len(d.lines))
	in := false
	for i, l := range d.lines {
		if strings.HasPrefix(l, "```") {
			in = !in
			continue
		}
		if !in {
			out[i] = l
		}
	}
	return out
}

var (
	headingRE  = regexp.MustCompile(`^#{1,6} +(.*)$`)
	slugDropRE = regexp.MustCompile(`[^\p{L}\p{N} _-]`)
)

// anchors are the fragment names GitHub gives the document's headings.
func (d doc) anchors() map[string]bool {
	a := map[string]bool{}
	for _, l := range d.prose() {
		if m := headingRE.FindStringSubmatch(l); m != nil {
			slug := strings.ReplaceAll(slugDropRE.ReplaceAllString(strings.ToLower(m[1]), ""), " ", "-")
			for n := 0; ; n++ { // GitHub numbers repeated headings
				s := slug
				if n > 0 {
					s += "-" + strconv.Itoa(n)
				}
				if !a[s] {
					a[s] = true
					break
				}
			}
		}
	}
	return a
}
