package main

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"auctionhouse/handlers"
)

// config is the process configuration (PROTOCOL.md §1), read once from the environment.
type config struct {
	Port           int
	DatabaseURL    string
	SQLitePath     string
	AdminUsername  string
	AdminPassword  string
	AllowedOrigins []string
	RateLimits     bool
	// UploadDir holds auction photos; not in PROTOCOL.md §1, so it is our own extension.
	UploadDir string
	// TrustProxy (TRUST_PROXY=on, our extension): a reverse proxy in front sets
	// X-Forwarded-For and X-Forwarded-Proto, which are then believed (handlers.Config.TrustProxy).
	TrustProxy bool
	// DebugAddr, when set, serves Go's pprof profiles there; it must be a loopback address,
	// since profiles reveal internals and cost CPU.
	DebugAddr string
}

// loadConfig reads and checks the configuration; getenv is os.Getenv outside tests.
func loadConfig(getenv func(string) string) (config, error) {
	cfg := config{
		Port:          3000,
		DatabaseURL:   strings.TrimSpace(getenv("DATABASE_URL")),
		SQLitePath:    getenv("SQLITE_PATH"),
		AdminUsername: getenv("ADMIN_USERNAME"),
		AdminPassword: getenv("ADMIN_PASSWORD"),
		RateLimits:    true,
		UploadDir:     getenv("UPLOAD_DIR"),
	}
	if p := getenv("PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return config{}, fmt.Errorf("PORT must be a number from 1 to 65535, got %q", p)
		}
		cfg.Port = n
	}
	if cfg.DatabaseURL != "" {
		u, err := url.Parse(cfg.DatabaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			return config{}, fmt.Errorf("DATABASE_URL must look like postgres://user:password@host:5432/dbname")
		}
	}
	if cfg.SQLitePath == "" {
		cfg.SQLitePath = "auction.db"
	}
	if cfg.UploadDir == "" {
		cfg.UploadDir = "uploads"
	}
	if (cfg.AdminUsername == "") != (cfg.AdminPassword == "") {
		return config{}, fmt.Errorf("ADMIN_USERNAME and ADMIN_PASSWORD must be set together")
	}
	if cfg.DebugAddr = getenv("DEBUG_ADDR"); cfg.DebugAddr != "" {
		host, _, err := net.SplitHostPort(cfg.DebugAddr)
		if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
			return config{}, fmt.Errorf("DEBUG_ADDR must be a loopback host:port such as 127.0.0.1:6060, got %q", cfg.DebugAddr)
		}
	}
	origins, err := parseOrigins(getenv("ALLOWED_ORIGINS"))
	if err != nil {
		return config{}, err
	}
	cfg.AllowedOrigins = origins
	switch v := strings.ToLower(strings.TrimSpace(getenv("RATE_LIMITS"))); v {
	case "", "on":
	case "off":
		cfg.RateLimits = false
	default:
		return config{}, fmt.Errorf("RATE_LIMITS must be \"on\" or \"off\", got %q", v)
	}
	switch v := strings.ToLower(strings.TrimSpace(getenv("TRUST_PROXY"))); v {
	case "", "off":
	case "on":
		cfg.TrustProxy = true
	default:
		return config{}, fmt.Errorf("TRUST_PROXY must be \"on\" or \"off\", got %q", v)
	}
	return cfg, nil
}

// parseOrigins reads a comma list of origins such as https://shop.example:8443, with the rule
// the server applies them by (handlers.NormalizeOrigin).
func parseOrigins(list string) ([]string, error) {
	var origins []string
	for _, o := range strings.Split(list, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		n, ok := handlers.NormalizeOrigin(o)
		if !ok {
			return nil, fmt.Errorf("ALLOWED_ORIGINS: %q is not an origin like https://example.com", o)
		}
		origins = append(origins, n)
	}
	return origins, nil
}
