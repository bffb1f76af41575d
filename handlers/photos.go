package handlers

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // registers the JPEG header decoder for checkPhoto
	_ "image/png"  // and the PNG one
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"auctionhouse/models"
)

// Photos: a seller's pictures are checked by their content alone (never the file name or the
// type the browser claims), stored under random names in Config.UploadDir, recorded in the
// photos table, and served back with the type found at upload.

// The image types auctions accept, as stored in photos.content_type.
const (
	photoJPEG = "image/jpeg"
	photoPNG  = "image/png"
	photoWebP = "image/webp"
)

// photoExt is the file extension of each accepted type; names end in it so that an operator
// looking at the upload directory sees what is what.
var photoExt = map[string]string{photoJPEG: ".jpg", photoPNG: ".png", photoWebP: ".webp"}

// photoNamePattern is the only shape of name /photos/ serves: what newPhotoName makes. Anything
// else (dots, slashes, encoded slashes) is refused before the file system is touched.
var photoNamePattern = regexp.MustCompile(`^[0-9a-f]{32}\.(?:jpg|png|webp)$`)

// upload is one photo of a seller's form that passed the checks, in memory until stored.
type upload struct {
	data        []byte
	contentType string
}

// sniffPhoto returns the type of an image by its first bytes: JPEG and PNG as
// http.DetectContentType finds them, WebP by its RIFF container ("RIFF", size, "WEBP"), or ""
// for anything else.
func sniffPhoto(data []byte) string {
	if isWebP(data) {
		return photoWebP
	}
	switch http.DetectContentType(data) {
	case photoJPEG:
		return photoJPEG
	case photoPNG:
		return photoPNG
	}
	return ""
}

// isWebP checks the RIFF header of a WebP file: the magic words, a size that fits the data,
// and a first chunk of one of the three WebP kinds (lossy, lossless, extended).
func isWebP(data []byte) bool {
	if len(data) < 20 || string(data[0:4]) != "RIFF" || string(data[8:12]) != "WEBP" {
		return false
	}
	size := binary.LittleEndian.Uint32(data[4:8])
	if uint64(size)+8 > uint64(len(data)) || size < 12 {
		return false
	}
	switch string(data[12:16]) {
	case "VP8 ", "VP8L", "VP8X":
		return true
	}
	return false
}

// checkPhoto returns the type of an acceptable photo, or a message for the seller. Sniffing
// only looks at the magic bytes, so JPEG and PNG headers are also decoded (not the pixels),
// which refuses a file that merely starts like an image.
func checkPhoto(data []byte) (string, error) {
	ct := sniffPhoto(data)
	if ct == "" {
		return "", errors.New("is not a JPEG, PNG or WebP image")
	}
	if ct != photoWebP {
		if _, _, err := image.DecodeConfig(bytes.NewReader(data)); err != nil {
			return "", errors.New("is damaged or not really an image")
		}
	}
	return ct, nil
}

// readPhotos checks the files of the form's photos field and reads them into memory: at most
// Config.MaxPhotos files, each at most Config.MaxPhotoBytes and an accepted image. Empty
// parts (a file input left empty) are skipped. The message, if any, names every bad file.
func (s *Server) readPhotos(files []*multipart.FileHeader) ([]upload, string) {
	var chosen []*multipart.FileHeader
	for _, fh := range files {
		if fh.Filename == "" && fh.Size == 0 {
			continue
		}
		chosen = append(chosen, fh)
	}
	if len(chosen) > s.cfg.MaxPhotos {
		return nil, fmt.Sprintf("Choose at most %d photos; you chose %d.", s.cfg.MaxPhotos, len(chosen))
	}
	var (
		out      []upload
		problems []string
	)
	for _, fh := range chosen {
		name := strconv.Quote(truncateForMessage(filepath.Base(fh.Filename)))
		if fh.Size > s.cfg.MaxPhotoBytes {
			problems = append(problems, fmt.Sprintf("%s is larger than %s.", name, byteSize(s.cfg.MaxPhotoBytes)))
			continue
		}
		if fh.Size == 0 {
			problems = append(problems, name+" is empty.")
			continue
		}
		data, err := readAllLimited(fh, s.cfg.MaxPhotoBytes)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s could not be read.", name))
			continue
		}
		ct, err := checkPhoto(data)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s %s.", name, err))
			continue
		}
		out = append(out, upload{data: data, contentType: ct})
	}
	if len(problems) > 0 {
		msg := problems[0]
		for _, p := range problems[1:] {
			msg += " " + p
		}
		return nil, msg + " Photos must be JPEG, PNG or WebP images of at most " + byteSize(s.cfg.MaxPhotoBytes) + " each."
	}
	return out, ""
}

// readAllLimited reads a part of at most limit bytes; a longer one is an error, whatever its
// header claimed.
func readAllLimited(fh *multipart.FileHeader, limit int64) ([]byte, error) {
	f, err := fh.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, errors.New("too large")
	}
	return data, nil
}

// byteSize shows a size limit for people: "5 MB", "512 KB", "300 bytes".
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// newPhotoName is a random file name with the type's extension: 128 random bits, so names
// neither collide nor can be guessed.
func newPhotoName(contentType string) (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random photo name: %w", err)
	}
	return hex.EncodeToString(b) + photoExt[contentType], nil
}

// savePhotos writes the uploads to Config.UploadDir and returns their rows (without an auction
// id yet). Each file is written to a temporary file and renamed into place, so that a photo
// is either absent or complete, never half written. On error, nothing stays behind.
func (s *Server) savePhotos(uploads []upload) ([]models.Photo, error) {
	if len(uploads) == 0 {
		return nil, nil
	}
	dir := s.cfg.UploadDir
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create upload directory: %w", err)
	}
	rows := make([]models.Photo, 0, len(uploads))
	for i, u := range uploads {
		name, err := newPhotoName(u.contentType)
		if err == nil {
			err = writeFileAtomic(dir, name, u.data)
		}
		if err != nil {
			s.removePhotos(rows)
			return nil, err
		}
		rows = append(rows, models.Photo{FileName: name, ContentType: u.contentType, Position: i, CreatedAt: s.now().UTC()})
	}
	return rows, nil
}

// writeFileAtomic writes data to dir/name through a temporary file in dir, synced before the
// rename so that a crash cannot leave a named but empty file.
func writeFileAtomic(dir, name string, data []byte) (err error) {
	tmp, err := os.CreateTemp(dir, ".upload-*")
	if err != nil {
		return fmt.Errorf("store photo: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("store photo: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("store photo: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("store photo: %w", err)
	}
	if err = os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("store photo: %w", err)
	}
	return nil
}

// removePhotos deletes stored photo files whose auction or rows could not be stored.
func (s *Server) removePhotos(rows []models.Photo) {
	for _, p := range rows {
		if err := os.Remove(filepath.Join(s.cfg.UploadDir, p.FileName)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Error("cannot remove an orphaned photo", "file", p.FileName, "err", err)
		}
	}
}

// servePhoto answers GET /photos/{name} with a stored photo. Only names of the shape we issue
// and that the photos table knows are served, with the type recorded at upload; nosniff (set on
// every response by securityHeaders) keeps browsers from second-guessing it, and a stricter
// policy than the pages' keeps a photo opened on its own from running anything. Names are random
// and files never change, so browsers may keep them for good.
func (s *Server) servePhoto(c *fiber.Ctx) error {
	name := c.Params("name")
	if !photoNamePattern.MatchString(name) {
		return fiber.ErrNotFound
	}
	photo, err := s.store.PhotoByFileName(c.UserContext(), name)
	if errors.Is(err, models.ErrNotFound) {
		return fiber.ErrNotFound
	}
	if err != nil {
		return err
	}
	f, err := os.Open(filepath.Join(s.cfg.UploadDir, photo.FileName))
	if errors.Is(err, os.ErrNotExist) {
		s.log.Warn("a photo's file is missing", "file", photo.FileName, "auction_id", photo.AuctionID)
		return fiber.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("open photo: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("stat photo: %w", err)
	}
	c.Set(fiber.HeaderContentType, photo.ContentType)
	c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; sandbox")
	// SendStream closes f once the body is written.
	return c.SendStream(f, int(info.Size()))
}
