package main

import (
	"reflect"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    config
		wantErr string
	}{
		{
			name: "defaults",
			env:  nil,
			want: config{Port: 3000, SQLitePath: "auction.db", RateLimits: true, UploadDir: "uploads"},
		},
		{
			name: "everything set",
			env: map[string]string{
				"PORT": "8080", "DATABASE_URL": "postgres://u:p@db:5432/auction", "SQLITE_PATH": "/tmp/x.db",
				"ADMIN_USERNAME": "root", "ADMIN_PASSWORD": "secret123", "ALLOWED_ORIGINS": "https://A.example, http://b.example:8080",
				"RATE_LIMITS": "off", "UPLOAD_DIR": "/var/photos",
			},
			want: config{
				Port: 8080, DatabaseURL: "postgres://u:p@db:5432/auction", SQLitePath: "/tmp/x.db",
				AdminUsername: "root", AdminPassword: "secret123",
				AllowedOrigins: []string{"https://a.example", "http://b.example:8080"},
				UploadDir:      "/var/photos",
			},
		},
		{name: "port not a number", env: map[string]string{"PORT": "http"}, wantErr: "PORT must be a number"},
		{name: "port out of range", env: map[string]string{"PORT": "70000"}, wantErr: "PORT must be a number"},
		{name: "not a postgres url", env: map[string]string{"DATABASE_URL": "mysql://x"}, wantErr: "DATABASE_URL"},
		{name: "admin without password", env: map[string]string{"ADMIN_USERNAME": "root"}, wantErr: "set together"},
		{name: "origin with path", env: map[string]string{"ALLOWED_ORIGINS": "https://a.example/x"}, wantErr: "ALLOWED_ORIGINS"},
		{name: "origin without scheme", env: map[string]string{"ALLOWED_ORIGINS": "a.example"}, wantErr: "ALLOWED_ORIGINS"},
		{name: "origin with user info", env: map[string]string{"ALLOWED_ORIGINS": "https://me@a.example"}, wantErr: "ALLOWED_ORIGINS"},
		{name: "origin null", env: map[string]string{"ALLOWED_ORIGINS": "null"}, wantErr: "ALLOWED_ORIGINS"},
		{
			name: "origin with its default port",
			env:  map[string]string{"ALLOWED_ORIGINS": "https://Shop.example:443"},
			want: config{Port: 3000, SQLitePath: "auction.db", RateLimits: true, UploadDir: "uploads", AllowedOrigins: []string{"https://shop.example"}},
		},
		{name: "bad rate limits", env: map[string]string{"RATE_LIMITS": "maybe"}, wantErr: "RATE_LIMITS"},
		{name: "bad trust proxy", env: map[string]string{"TRUST_PROXY": "yes"}, wantErr: "TRUST_PROXY"},
		{
			name: "behind a proxy",
			env:  map[string]string{"TRUST_PROXY": " On "},
			want: config{Port: 3000, SQLitePath: "auction.db", RateLimits: true, UploadDir: "uploads", TrustProxy: true},
		},
		{name: "debug on a public address", env: map[string]string{"DEBUG_ADDR": "0.0.0.0:6060"}, wantErr: "DEBUG_ADDR"},
		{name: "debug without a port", env: map[string]string{"DEBUG_ADDR": "127.0.0.1"}, wantErr: "DEBUG_ADDR"},
		{
			name: "debug on loopback",
			env:  map[string]string{"DEBUG_ADDR": "127.0.0.1:6060"},
			want: config{Port: 3000, SQLitePath: "auction.db", RateLimits: true, UploadDir: "uploads", DebugAddr: "127.0.0.1:6060"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := loadConfig(env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Fatalf("error must be one line: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
