package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fakeServer answers the setup calls of a run; override replaces single routes.
func fakeServer(t *testing.T, override map[string]http.HandlerFunc) string {
	t.Helper()
	routes := map[string]http.HandlerFunc{
		"GET /healthz": func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"status":"ok"}`)) },
		"POST /api/v1/users": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(201)
			w.Write([]byte(`{"id":1,"username":"x"}`))
		},
		"POST /api/v1/sessions": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(201)
			w.Write([]byte(`{"token":"t","user":{"id":1,"username":"x","admin":false}}`))
		},
		"POST /api/v1/auctions": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(201)
			w.Write([]byte(`{"id":1,"status":"open","bid_count":0,"seq":1,"min_next_bid":"1.00","current_price":null}`))
		},
	}
	for k, v := range override {
		routes[k] = v
	}
	mux := http.NewServeMux()
	for pattern, h := range routes {
		mux.HandleFunc(pattern, h)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestErrorsFromTheServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tests := []struct {
		name     string
		override map[string]http.HandlerFunc
		want     []string
	}{
		{
			"rate limited sign-up",
			map[string]http.HandlerFunc{"POST /api/v1/users": func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(429)
				w.Write([]byte(`{"error":{"code":"rate_limited","message":"too many requests"}}`))
			}},
			[]string{"POST /api/v1/users: unexpected status 429 rate_limited: too many requests", "RATE_LIMITS=off"},
		},
		{
			"no WebSocket endpoint",
			nil,
			[]string{"GET /ws/auctions/1 (WebSocket upgrade): unexpected status 404", "no WebSocket endpoint"},
		},
		{
			"rate limited upgrade",
			map[string]http.HandlerFunc{"GET /ws/auctions/1": func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Origin") != "" {
					t.Errorf("the bench sent Origin %q", r.Header.Get("Origin"))
				}
				w.WriteHeader(429)
				w.Write([]byte(`{"error":{"code":"rate_limited","message":"too many connections"}}`))
			}},
			[]string{"unexpected status 429 rate_limited: too many connections", "RATE_LIMITS=off"},
		},
		{
			"unhealthy",
			map[string]http.HandlerFunc{"GET /healthz": func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }},
			[]string{"is not healthy: GET /healthz answered 503"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := fakeServer(t, tt.override)
			for _, scenario := range []string{"hot", "fanout"} {
				_, err := run(ctx, Config{URL: url, Duration: time.Second, Bidders: 2, Watchers: 2, Rate: 1}, scenario)
				if err == nil {
					t.Fatalf("%s: no error", scenario)
				}
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: error %q lacks %q", scenario, err, w)
					}
				}
			}
		})
	}
}
