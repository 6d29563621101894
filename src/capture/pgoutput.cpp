#include "capture/pgoutput.hpp"

#include <charconv>
#include <cstdio>

namespace hookd::capture {
namespace {

// Seconds between 1970-01-01 and 2000-01-01.
constexpr std::int64_t kPgEpochUnixSeconds = 946'684'800;

// A cursor over a byte span in network byte order. Every read checks the bytes left; the
// first failure sticks (ok() false), so a decoder can read a whole message and check once.
class Reader final {
  public:
    explicit Reader(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}

    [[nodiscard]] bool ok() const { return error_.empty(); }
    [[nodiscard]] const std::string& error() const { return error_; }
    [[nodiscard]] std::size_t left() const { return bytes_.size() - pos_; }

    std::uint64_t Uint(std::size_t n, const char* what) {
        if (!Need(n, what)) return 0;
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < n; ++i) v = (v << 8) | bytes_[pos_ + i];
        pos_ += n;
        return v;
    }
    std::uint8_t U8(const char* what) { return static_cast<std::uint8_t>(Uint(1, what)); }
    std::uint16_t U16(const char* what) { return static_cast<std::uint16_t>(Uint(2, what)); }
    std::uint32_t U32(const char* what) { return static_cast<std::uint32_t>(Uint(4, what)); }
    std::uint64_t U64(const char* what) { return Uint(8, what); }
    std::int64_t I64(const char* what) { return static_cast<std::int64_t>(U64(what)); }
    char Byte(const char* what) { return static_cast<char>(U8(what)); }

    //! A NUL-terminated string (pq_sendstring).
    std::string CString(const char* what) {
        if (!ok()) return {};
        for (std::size_t i = pos_; i < bytes_.size(); ++i) {
            if (bytes_[i] == 0) {
                std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), i - pos_);
                pos_ = i + 1;
                return s;
            }
        }
        Fail(std::string(what) + ": unterminated string");
        return {};
    }
    //! `n` raw bytes.
    std::string Bytes(std::size_t n, const char* what) {
        if (!Need(n, what)) return {};
        std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), n);
        pos_ += n;
        return s;
    }
    std::span<const std::uint8_t> Rest() {
        auto r = bytes_.subspan(pos_);
        pos_ = bytes_.size();
        return r;
    }
    void Fail(std::string message) {
        if (error_.empty()) error_ = std::move(message);
    }

  private:
    bool Need(std::size_t n, const char* what) {
        if (!ok()) return false;
        if (left() < n) {
            Fail(std::string(what) + ": message truncated");
            return false;
        }
        return true;
    }

    std::span<const std::uint8_t> bytes_;
    std::size_t pos_ = 0;
    std::string error_;
};

template <typename T>
Result<PgOutputMessage> Finish(Reader& r, T&& message, const char* name) {
    if (!r.ok()) return Fail(Error::Invalid(std::string("pgoutput ") + name + ": " + r.error()));
    if (r.left() != 0) {
        return Fail(Error::Invalid(std::string("pgoutput ") + name + ": " + std::to_string(r.left()) +
                                   " unexpected trailing bytes"));
    }
    return PgOutputMessage(std::forward<T>(message));
}

// TupleData: Int16 column count, then per column a kind byte and, for 't'/'b', Int32
// length and the bytes.
Tuple ReadTuple(Reader& r) {
    Tuple t;
    const std::uint16_t n = r.U16("tuple column count");
    if (!r.ok()) return t;
    if (n > kMaxColumns) {
        r.Fail("tuple has " + std::to_string(n) + " columns (more than " + std::to_string(kMaxColumns) + ")");
        return t;
    }
    // Each column takes at least its kind byte: a count beyond the bytes left is malformed,
    // checked before reserving.
    if (n > r.left()) {
        r.Fail("tuple column count exceeds the message");
        return t;
    }
    t.reserve(n);
    for (std::uint16_t i = 0; i < n && r.ok(); ++i) {
        TupleValue v;
        v.kind = r.Byte("tuple column kind");
        switch (v.kind) {
            case 'n':
            case 'u':
                break;
            case 't':
            case 'b': {
                const std::uint32_t len = r.U32("tuple value length");
                if (r.ok() && len > r.left()) {
                    r.Fail("tuple value length exceeds the message");
                    break;
                }
                v.data = r.Bytes(len, "tuple value");
                break;
            }
            default:
                if (r.ok()) r.Fail("unknown tuple column kind " + std::to_string(static_cast<unsigned char>(v.kind)));
        }
        t.push_back(std::move(v));
    }
    return t;
}

Result<PgOutputMessage> DecodeRelation(Reader& r) {
    Relation rel;
    rel.id = r.U32("relation id");
    rel.nspname = r.CString("relation namespace");
    rel.relname = r.CString("relation name");
    rel.replica_identity = r.Byte("replica identity");
    const std::uint16_t n = r.U16("relation column count");
    if (r.ok() && n > kMaxColumns) r.Fail("relation has too many columns");
    // A column takes at least 10 bytes (flags, empty name, type, typmod).
    if (r.ok() && static_cast<std::size_t>(n) * 10 > r.left()) r.Fail("relation column count exceeds the message");
    if (r.ok()) rel.columns.reserve(n);
    for (std::uint16_t i = 0; i < n && r.ok(); ++i) {
        RelationColumn c;
        c.key = (r.U8("column flags") & 1) != 0;
        c.name = r.CString("column name");
        c.type_oid = r.U32("column type");
        c.type_mod = static_cast<std::int32_t>(r.U32("column typmod"));
        rel.columns.push_back(std::move(c));
    }
    const char ri = rel.replica_identity;
    if (r.ok() && ri != 'd' && ri != 'n' && ri != 'f' && ri != 'i') r.Fail("unknown replica identity");
    return Finish(r, std::move(rel), "Relation");
}

Result<PgOutputMessage> DecodeUpdate(Reader& r) {
    Update u;
    u.relation = r.U32("relation id");
    char action = r.Byte("update action");
    if (r.ok() && (action == 'K' || action == 'O')) {
        u.old_kind = action;
        u.old_row = ReadTuple(r);
        action = r.Byte("update action");
    }
    if (r.ok() && action != 'N') r.Fail("expected a new tuple ('N')");
    u.row = ReadTuple(r);
    return Finish(r, std::move(u), "Update");
}

Result<PgOutputMessage> DecodeTruncate(Reader& r) {
    Truncate t;
    const std::uint32_t n = r.U32("relation count");
    t.options = r.U8("truncate options");
    if (r.ok() && static_cast<std::uint64_t>(n) * 4 != r.left()) r.Fail("relation count does not match the message");
    if (r.ok()) t.relations.reserve(n);
    for (std::uint32_t i = 0; i < n && r.ok(); ++i) t.relations.push_back(r.U32("relation id"));
    return Finish(r, std::move(t), "Truncate");
}

Result<PgOutputMessage> DecodeMessage(Reader& r) {
    LogicalMessage m;
    m.transactional = (r.U8("message flags") & 1) != 0;
    m.lsn = r.U64("message lsn");
    m.prefix = r.CString("message prefix");
    const std::uint32_t len = r.U32("message length");
    if (r.ok() && len != r.left()) r.Fail("message length does not match the message");
    m.content = r.Bytes(len, "message content");
    return Finish(r, std::move(m), "Message");
}

}  // namespace

std::string FormatLsn(Lsn lsn) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(lsn >> 32), static_cast<unsigned>(lsn & 0xffffffffu));
    return buf;
}

std::optional<Lsn> ParseLsn(std::string_view text) {
    const auto slash = text.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == text.size() || slash > 8 ||
        text.size() - slash - 1 > 8) {
        return std::nullopt;
    }
    std::uint32_t hi = 0;
    std::uint32_t lo = 0;
    auto parse = [](std::string_view s, std::uint32_t& out) {
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 16);
        return ec == std::errc() && p == s.data() + s.size();
    };
    if (!parse(text.substr(0, slash), hi) || !parse(text.substr(slash + 1), lo)) return std::nullopt;
    return (static_cast<Lsn>(hi) << 32) | lo;
}

std::int64_t PgTimeToUnixMs(PgTime t) { return t / 1000 + kPgEpochUnixSeconds * 1000; }
PgTime UnixMsToPgTime(std::int64_t ms) { return (ms - kPgEpochUnixSeconds * 1000) * 1000; }

Result<CopyMessage> DecodeCopyData(std::span<const std::uint8_t> bytes) {
    Reader r(bytes);
    const char kind = r.Byte("copy data kind");
    if (kind == 'w') {
        XLogData x;
        x.start = r.U64("xlogdata start");
        x.end = r.U64("xlogdata end");
        x.sent_at = r.I64("xlogdata time");
        if (!r.ok()) return Fail(Error::Invalid("replication XLogData: " + r.error()));
        x.payload = r.Rest();
        return CopyMessage(x);
    }
    if (kind == 'k') {
        Keepalive k;
        k.end = r.U64("keepalive end");
        k.sent_at = r.I64("keepalive time");
        k.reply_requested = r.U8("keepalive reply flag") != 0;
        if (!r.ok()) return Fail(Error::Invalid("replication keepalive: " + r.error()));
        if (r.left() != 0) return Fail(Error::Invalid("replication keepalive: unexpected trailing bytes"));
        return CopyMessage(k);
    }
    if (!r.ok()) return Fail(Error::Invalid("replication stream: empty CopyData message"));
    return Fail(
        Error::Invalid("replication stream: unknown message kind " + std::to_string(static_cast<unsigned char>(kind))));
}

std::string EncodeStandbyStatus(Lsn written, Lsn flushed, Lsn applied, PgTime now, bool reply) {
    std::string out;
    out.reserve(34);
    out.push_back('r');
    auto put = [&out](std::uint64_t v) {
        for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
    };
    put(written);
    put(flushed);
    put(applied);
    put(static_cast<std::uint64_t>(now));
    out.push_back(reply ? 1 : 0);
    return out;
}

Result<PgOutputMessage> DecodePgOutput(std::span<const std::uint8_t> bytes) {
    Reader r(bytes);
    const char kind = r.Byte("pgoutput message kind");
    if (!r.ok()) return Fail(Error::Invalid("pgoutput: empty message"));
    switch (kind) {
        case 'B': {
            Begin b;
            b.final_lsn = r.U64("final lsn");
            b.commit_time = r.I64("commit time");
            b.xid = r.U32("xid");
            return Finish(r, b, "Begin");
        }
        case 'C': {
            Commit c;
            c.flags = r.U8("commit flags");
            c.commit_lsn = r.U64("commit lsn");
            c.end_lsn = r.U64("end lsn");
            c.commit_time = r.I64("commit time");
            return Finish(r, c, "Commit");
        }
        case 'O': {
            Origin o;
            o.commit_lsn = r.U64("origin lsn");
            o.name = r.CString("origin name");
            return Finish(r, std::move(o), "Origin");
        }
        case 'R':
            return DecodeRelation(r);
        case 'Y': {
            TypeInfo t;
            t.oid = r.U32("type oid");
            t.nspname = r.CString("type namespace");
            t.name = r.CString("type name");
            return Finish(r, std::move(t), "Type");
        }
        case 'I': {
            Insert i;
            i.relation = r.U32("relation id");
            if (r.Byte("insert action") != 'N' && r.ok()) r.Fail("expected a new tuple ('N')");
            i.row = ReadTuple(r);
            return Finish(r, std::move(i), "Insert");
        }
        case 'U':
            return DecodeUpdate(r);
        case 'D': {
            Delete d;
            d.relation = r.U32("relation id");
            d.old_kind = r.Byte("delete action");
            if (r.ok() && d.old_kind != 'K' && d.old_kind != 'O') r.Fail("expected an old key ('K') or row ('O')");
            d.old_row = ReadTuple(r);
            return Finish(r, std::move(d), "Delete");
        }
        case 'T':
            return DecodeTruncate(r);
        case 'M':
            return DecodeMessage(r);
        default:
            return Fail(
                Error::Invalid("pgoutput: unknown message kind " + std::to_string(static_cast<unsigned char>(kind))));
    }
}

}  // namespace hookd::capture
