package models_test

import (
	"context"
	"errors"
	"testing"

	"auctionhouse/models"
	"auctionhouse/models/dbtest"
)

func TestPhotos(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		seller := mustUser(t, s, "seller")
		a1 := mustAuction(t, s, seller, nil)
		a2 := mustAuction(t, s, seller, nil)
		a3 := mustAuction(t, s, seller, nil)

		photos := []models.Photo{
			{AuctionID: a1.ID, FileName: "a.png", ContentType: "image/png", Position: 0, CreatedAt: base},
			{AuctionID: a1.ID, FileName: "b.jpg", ContentType: "image/jpeg", Position: 1, CreatedAt: base},
			{AuctionID: a2.ID, FileName: "c.webp", ContentType: "image/webp", Position: 0, CreatedAt: base},
		}
		if err := s.CreatePhotos(ctx, photos); err != nil {
			t.Fatal(err)
		}
		for _, p := range photos {
			if p.ID == 0 {
				t.Errorf("photo %s got no id", p.FileName)
			}
		}
		if err := s.CreatePhotos(ctx, nil); err != nil {
			t.Errorf("no photos: %v", err)
		}

		got, err := s.PhotosByAuction(ctx, a1.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].FileName != "a.png" || got[1].FileName != "b.jpg" {
			t.Errorf("PhotosByAuction = %+v", got)
		}

		first, err := s.FirstPhotos(ctx, []int64{a1.ID, a2.ID, a3.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(first) != 2 || first[a1.ID].FileName != "a.png" || first[a2.ID].FileName != "c.webp" {
			t.Errorf("FirstPhotos = %+v", first)
		}
		if _, ok := first[a3.ID]; ok {
			t.Errorf("auction without photos has a first photo")
		}
		if m, err := s.FirstPhotos(ctx, nil); err != nil || len(m) != 0 {
			t.Errorf("FirstPhotos(nil) = %v, %v", m, err)
		}

		p, err := s.PhotoByFileName(ctx, "c.webp")
		if err != nil || p.ContentType != "image/webp" || p.AuctionID != a2.ID {
			t.Errorf("PhotoByFileName = %+v, %v", p, err)
		}
		if _, err := s.PhotoByFileName(ctx, "nope.png"); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("unknown photo: %v, want ErrNotFound", err)
		}

		// Names are unique, and a failed batch stores none of its photos.
		dup := []models.Photo{
			{AuctionID: a3.ID, FileName: "d.png", ContentType: "image/png", Position: 0, CreatedAt: base},
			{AuctionID: a3.ID, FileName: "a.png", ContentType: "image/png", Position: 1, CreatedAt: base},
		}
		if err := s.CreatePhotos(ctx, dup); !errors.Is(err, models.ErrDuplicate) {
			t.Errorf("duplicate name: %v, want ErrDuplicate", err)
		}
		if got, _ := s.PhotosByAuction(ctx, a3.ID); len(got) != 0 {
			t.Errorf("half a failed batch was stored: %+v", got)
		}

		// Only the three sniffed image types can be stored.
		bad := []models.Photo{{AuctionID: a3.ID, FileName: "e.svg", ContentType: "image/svg+xml", CreatedAt: base}}
		if err := s.CreatePhotos(ctx, bad); err == nil {
			t.Errorf("an SVG photo was stored")
		}
	})
}
