package sessionstring

import "testing"

func BenchmarkDecode(b *testing.B) {
	for _, f := range Formats() {
		s := readVector(b, vectorByFormat[f])
		b.Run(f.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, f := range Formats() {
		sess, err := DecodeAs(f, readVector(b, vectorByFormat[f]))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(f.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Encode(f, sess); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
