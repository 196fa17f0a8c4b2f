// src/util/bytes.h: HexDecode, Base64Decode and ByteReader.
//
// Input (FuzzedDataProvider): a length-prefixed data buffer, then a program of reader
// operations consumed from the end. Every ByteReader call is checked against a reference
// model of the little-endian layout (what it returns, whether it fails, how far it moves),
// and hex/base64 decoding must round-trip: an accepted string is the canonical encoding of
// what it decodes to (hex up to letter case).
#include <fuzzer/FuzzedDataProvider.h>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_common.h"
#include "util/bytes.h"

using namespace coffer;
using coffer::fuzz::Finding;

namespace {

void CheckHex(std::string_view s) {
  auto r = HexDecode(s);
  if (!r.ok()) return;
  std::string lower(s);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (HexEncode(*r) != lower)
    Finding("HexDecode accepted a string that is not hex of its result:",
            "input hex " + HexEncode(AsBytes(s)));
}

void CheckBase64(std::string_view s) {
  auto r = Base64Decode(s);
  if (!r.ok()) return;
  if (Base64Encode(*r) != s)
    Finding("Base64Decode accepted a non-canonical encoding:",
            "input hex " + HexEncode(AsBytes(s)) + ", decodes to hex " + HexEncode(*r) +
                ", which encodes as \"" + Base64Encode(*r) + "\"");
}

uint64_t LoadLe(const Bytes& d, size_t pos, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(d[pos + i]) << (8 * i);
  return v;
}

// Runs reader operations on `data`, comparing each with the model (pos = bytes consumed).
void CheckReader(const Bytes& data, FuzzedDataProvider& ops) {
  ByteReader r(data, "fuzz input");
  size_t pos = 0;
  auto expect_pos = [&](const char* op) {
    if (r.position() != pos || r.remaining() != data.size() - pos || r.consumed().size() != pos)
      Finding("ByteReader position bookkeeping is wrong after", op);
  };
  for (int steps = 0; steps < 64 && ops.remaining_bytes() > 0; ++steps) {
    const size_t left = data.size() - pos;
    switch (ops.ConsumeIntegralInRange<int>(0, 7)) {
      case 0: {
        auto v = r.U8();
        if (v.ok() != (left >= 1) || (v.ok() && *v != data[pos]))
          Finding("ByteReader::U8 disagrees with the model");
        if (v.ok()) pos += 1;
        expect_pos("U8");
        break;
      }
      case 1: {
        auto v = r.U16();
        if (v.ok() != (left >= 2) || (v.ok() && *v != LoadLe(data, pos, 2)))
          Finding("ByteReader::U16 disagrees");
        if (v.ok()) pos += 2;
        expect_pos("U16");
        break;
      }
      case 2: {
        auto v = r.U32();
        if (v.ok() != (left >= 4) || (v.ok() && *v != LoadLe(data, pos, 4)))
          Finding("ByteReader::U32 disagrees");
        if (v.ok()) pos += 4;
        expect_pos("U32");
        break;
      }
      case 3: {
        auto v = r.U64();
        if (v.ok() != (left >= 8) || (v.ok() && *v != LoadLe(data, pos, 8)))
          Finding("ByteReader::U64 disagrees");
        if (v.ok()) pos += 8;
        expect_pos("U64");
        break;
      }
      case 4: {
        // Sizes around and far beyond what is left, including SIZE_MAX.
        size_t n = ops.ConsumeBool() ? ops.ConsumeIntegralInRange<size_t>(0, left + 2)
                                     : ops.ConsumeIntegral<size_t>();
        auto v = r.Raw(n);
        if (v.ok() != (left >= n)) Finding("ByteReader::Raw disagrees on bounds");
        if (v.ok()) {
          if (v->size() != n || (n > 0 && v->data() != data.data() + pos))
            Finding("ByteReader::Raw returned the wrong span");
          pos += n;
        }
        expect_pos("Raw");
        break;
      }
      case 5:
      case 6: {
        const bool as_str = ops.ConsumeBool();
        const size_t max_len =
            ops.ConsumeBool() ? ops.ConsumeIntegralInRange<size_t>(0, 300) : ops.ConsumeIntegral<size_t>();
        const bool have_len = left >= 4;
        const uint64_t n = have_len ? LoadLe(data, pos, 4) : 0;
        const bool want_ok = have_len && n <= max_len && n <= left - 4;
        bool ok;
        size_t got_size = 0;
        const uint8_t* got_data = nullptr;
        if (as_str) {
          auto v = r.Str(max_len);
          ok = v.ok();
          if (ok) {
            got_size = v->size();
            if (std::memcmp(v->data(), data.data() + pos + 4, got_size) != 0)
              Finding("ByteReader::Str content differs");
          }
        } else {
          auto v = r.Blob(max_len);
          ok = v.ok();
          if (ok) {
            got_size = v->size();
            got_data = v->data();
            if (got_size > 0 && got_data != data.data() + pos + 4)
              Finding("ByteReader::Blob returned the wrong span");
          }
        }
        if (ok != want_ok || (ok && got_size != n)) Finding("ByteReader::Blob/Str disagrees with the model");
        // The length prefix is consumed even when the length is refused; a truncated prefix
        // consumes nothing.
        if (ok)
          pos += 4 + n;
        else if (have_len)
          pos += 4;
        expect_pos("Blob/Str");
        break;
      }
      case 7: {
        Status st = r.ExpectEnd();
        if (st.ok() != (pos == data.size())) Finding("ByteReader::ExpectEnd disagrees with the model");
        break;
      }
    }
  }
}

// Writer -> reader round trip of a few values chosen by the input.
void CheckWriterReader(FuzzedDataProvider& p) {
  ByteWriter w;
  const uint8_t a = p.ConsumeIntegral<uint8_t>();
  const uint16_t b = p.ConsumeIntegral<uint16_t>();
  const uint32_t c = p.ConsumeIntegral<uint32_t>();
  const uint64_t d = p.ConsumeIntegral<uint64_t>();
  const std::string s = p.ConsumeRandomLengthString(64);
  w.U8(a);
  w.U16(b);
  w.U32(c);
  w.U64(d);
  w.Str(s);
  const Bytes out = w.Take();
  ByteReader r(out, "writer output");
  auto ra = r.U8();
  auto rb = r.U16();
  auto rc = r.U32();
  auto rd = r.U64();
  auto rs = r.Str(s.size());
  if (!ra.ok() || !rb.ok() || !rc.ok() || !rd.ok() || !rs.ok() || *ra != a || *rb != b || *rc != c ||
      *rd != d || *rs != s || !r.ExpectEnd().ok())
    Finding("ByteWriter -> ByteReader round trip failed");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The whole input as text for the two decoders.
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  CheckHex(text);
  CheckBase64(text);

  FuzzedDataProvider p(data, size);
  const size_t len = p.ConsumeIntegralInRange<size_t>(0, p.remaining_bytes());
  const Bytes buf = p.ConsumeBytes<uint8_t>(len);
  // The buffer also as text, so mutations inside a structured input reach the decoders.
  CheckHex(AsChars(buf));
  CheckBase64(AsChars(buf));
  CheckReader(buf, p);
  CheckWriterReader(p);
  return 0;
}
