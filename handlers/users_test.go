package handlers

import (
	"strings"
	"testing"

	"auctionhouse/auction"
)

func TestCreateUser(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		t.Run("created", func(t *testing.T) {
			var got userResponse
			e.do("POST", "/api/v1/users", `{"username":"Ann.B-c_1","password":"12345678"}`).expect(t, 201).decode(t, &got)
			if got.ID <= 0 || got.Username != "Ann.B-c_1" {
				t.Errorf("answer %+v", got)
			}
		})
		t.Run("boundaries accepted", func(t *testing.T) {
			e.do("POST", "/api/v1/users", jsonBody(map[string]string{"username": "abc", "password": strings.Repeat("p", 72)})).expect(t, 201)
			e.do("POST", "/api/v1/users", jsonBody(map[string]string{"username": strings.Repeat("z", 32), "password": "12345678"})).expect(t, 201)
		})

		e.do("POST", "/api/v1/users", `{"username":"taken","password":"12345678"}`).expect(t, 201)
		tests := []struct {
			name   string
			body   string
			status int
			code   auction.Code
		}{
			{"taken", `{"username":"taken","password":"12345678"}`, 409, auction.CodeConflict},
			{"taken in another case", `{"username":"TaKeN","password":"12345678"}`, 409, auction.CodeConflict},
			{"malformed JSON", `{"username":"x",`, 400, auction.CodeInvalidRequest},
			{"not JSON", `username=x&password=y`, 400, auction.CodeInvalidRequest},
			{"array", `[{"username":"arr","password":"12345678"}]`, 400, auction.CodeInvalidRequest},
			{"string", `"arr"`, 400, auction.CodeInvalidRequest},
			{"empty body", ``, 400, auction.CodeInvalidRequest},
			{"trailing garbage", `{"username":"trail","password":"12345678"} x`, 400, auction.CodeInvalidRequest},
			{"two objects", `{"username":"trail","password":"12345678"}{}`, 400, auction.CodeInvalidRequest},
			{"username a number", `{"username":12345,"password":"12345678"}`, 400, auction.CodeInvalidRequest},
			{"password a number", `{"username":"numpw","password":12345678}`, 400, auction.CodeInvalidRequest},
			{"missing username", `{"password":"12345678"}`, 400, auction.CodeInvalidRequest},
			{"missing password", `{"username":"nopw"}`, 400, auction.CodeInvalidRequest},
			{"username too short", `{"username":"ab","password":"12345678"}`, 400, auction.CodeInvalidRequest},
			{"username too long", jsonBody(map[string]string{"username": strings.Repeat("a", 33), "password": "12345678"}), 400, auction.CodeInvalidRequest},
			{"username with a space", `{"username":"an n","password":"12345678"}`, 400, auction.CodeInvalidRequest},
			{"username not ASCII", `{"username":"añn","password":"12345678"}`, 400, auction.CodeInvalidRequest},
			{"password too short", `{"username":"shortpw","password":"1234567"}`, 400, auction.CodeInvalidRequest},
			{"password too long", jsonBody(map[string]string{"username": "longpw", "password": strings.Repeat("p", 73)}), 400, auction.CodeInvalidRequest},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e.do("POST", "/api/v1/users", tt.body).expectError(t, tt.status, tt.code)
			})
		}
		t.Run("refused sign-ups create nobody", func(t *testing.T) {
			for _, name := range []string{"arr", "trail", "numpw", "nopw", "shortpw", "longpw"} {
				e.do("POST", "/api/v1/sessions", jsonBody(map[string]string{"username": name, "password": "12345678"})).
					expectError(t, 401, auction.CodeUnauthenticated)
			}
		})
	})
}
