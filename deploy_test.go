package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// No Docker engine runs where the tests run, so these tests keep the deployment files honest
// by reading them: the structure compose needs, and agreement with the program's own config.

type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       any               `yaml:"build"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Ports       []string          `yaml:"ports"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		StopGracePeriod string `yaml:"stop_grace_period"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

func TestComposeFile(t *testing.T) {
	raw, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("docker-compose.yml is not valid YAML: %v", err)
	}
	db, ok := c.Services["db"]
	if !ok || !strings.HasPrefix(db.Image, "postgres:") {
		t.Fatalf("a db service running a postgres image is required, got %+v", db)
	}
	if db.Healthcheck == nil || !strings.Contains(strings.Join(db.Healthcheck.Test, " "), "pg_isready") {
		t.Fatal("db needs a pg_isready health check")
	}
	if !hasVolume(db.Volumes, "/var/lib/postgresql/data", c.Volumes) {
		t.Fatalf("db data must live on a named volume, got %v", db.Volumes)
	}
	app, ok := c.Services["app"]
	if !ok || app.Build == nil {
		t.Fatal("an app service built from this repository is required")
	}
	if app.DependsOn["db"].Condition != "service_healthy" {
		t.Fatal("app must wait for a healthy db")
	}
	url := app.Environment["DATABASE_URL"]
	if !regexp.MustCompile(`^postgres://[^@]+@db:5432/`).MatchString(url) {
		t.Fatalf("DATABASE_URL must point at the db service, got %q", url)
	}
	if _, err := loadConfig(func(k string) string { return resolveComposeDefaults(app.Environment[k]) }); err != nil {
		t.Fatalf("the app's environment in docker-compose.yml is not a valid configuration: %v", err)
	}
	if app.Healthcheck == nil || strings.Join(app.Healthcheck.Test, " ") != "CMD /app/auctionhouse healthcheck" {
		t.Fatalf("app health check must run the binary's healthcheck command, got %+v", app.Healthcheck)
	}
	if !hasVolume(app.Volumes, "/data", c.Volumes) || app.Environment["UPLOAD_DIR"] != "/data/uploads" {
		t.Fatal("uploaded photos must live on a named volume")
	}
	if len(app.Ports) == 0 || !strings.HasSuffix(app.Ports[0], ":3000") {
		t.Fatalf("app must publish port 3000, got %v", app.Ports)
	}
}

// resolveComposeDefaults turns compose's ${VAR:-default} into default, as compose does when the
// variable is unset.
func resolveComposeDefaults(v string) string {
	return regexp.MustCompile(`\$\{[A-Z_]+:-([^}]*)\}`).ReplaceAllString(v, "$1")
}

func hasVolume(mounts []string, target string, named map[string]any) bool {
	for _, m := range mounts {
		src, dst, ok := strings.Cut(m, ":")
		if _, isNamed := named[src]; ok && isNamed && dst == target {
			return true
		}
	}
	return false
}

func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	if n := len(regexp.MustCompile(`(?m)^FROM `).FindAllString(text, -1)); n < 2 {
		t.Fatalf("want a multi-stage build, found %d FROM lines", n)
	}
	users := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(text, -1)
	if len(users) == 0 {
		t.Fatal("the final image must set a non-root USER")
	}
	if last := users[len(users)-1][1]; last == "root" || last == "0" || strings.HasPrefix(last, "0:") {
		t.Fatalf("the final image runs as %s", last)
	}
	if !strings.Contains(text, "CGO_ENABLED=0") {
		t.Fatal("the binary must be static for the distroless image")
	}
}

// TestEveryVariableIsDocumented keeps the README's configuration table in step with config.go.
func TestEveryVariableIsDocumented(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("config.go")
	if err != nil {
		t.Fatal(err)
	}
	vars := regexp.MustCompile(`getenv\("([A-Z_]+)"\)`).FindAllStringSubmatch(string(src), -1)
	if len(vars) < 7 {
		t.Fatalf("found only %d variables in config.go", len(vars))
	}
	for _, v := range vars {
		if !strings.Contains(string(readme), "`"+v[1]+"`") {
			t.Errorf("README.md does not document %s", v[1])
		}
	}
}
