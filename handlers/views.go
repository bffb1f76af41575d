package handlers

import (
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"path"
	"strings"
)

// pageTemplates is the parsed set of page templates, implementing fiber.Views.
//
// It replaces github.com/gofiber/template/html, whose Render copies the html/template.Template
// struct by value before executing it. html/template escapes a template lazily, on its first
// Execute, and writes the result into that struct under its own lock; the engine's copy reads it
// without that lock, so the first page views of a new server raced (found by the race detector
// in CI). Executing the *Template itself, as here, is safe for concurrent use.
type pageTemplates struct {
	set *template.Template
}

// parsePageTemplates parses every .html file of fsys into one set, each named by its path
// without ".html" ("home", "partials/flash"), so pages can use each other's {{define}}s.
func parsePageTemplates(fsys fs.FS, funcs template.FuncMap) (*pageTemplates, error) {
	set := template.New("").Funcs(funcs)
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".html" {
			return err
		}
		text, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		_, err = set.New(strings.TrimSuffix(p, ".html")).Parse(string(text))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("parse page templates: %w", err)
	}
	return &pageTemplates{set: set}, nil
}

// Load does nothing: the set is parsed once, when it is made. Fiber calls it at start.
func (v *pageTemplates) Load() error { return nil }

// Render executes the page template name with data. Layouts are not supported: pages include
// the "top" and "bottom" templates themselves.
func (v *pageTemplates) Render(w io.Writer, name string, data any, layouts ...string) error {
	for _, l := range layouts {
		if l != "" {
			return fmt.Errorf("render %s: layouts are not supported (asked for %q)", name, l)
		}
	}
	t := v.set.Lookup(name)
	if t == nil {
		return fmt.Errorf("render: no page template %q", name)
	}
	return t.Execute(w, data)
}
