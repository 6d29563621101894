#pragma once
// The bytes of PostgreSQL's streaming replication protocol that change capture reads and
// writes, as pure functions: the CopyData framing of a logical replication stream
// (XLogData 'w', primary keepalive 'k', standby status update 'r') and the messages of the
// built-in `pgoutput` plugin, protocol version 1 (Begin, Commit, Origin, Relation, Type,
// Insert, Update, Delete, Truncate, Message).
//
// Bounded and total: every decoder reads only inside the span it is given, and any
// malformed, truncated or oversized input is an Error (kInvalid) naming what was wrong,
// never undefined behaviour. No allocation grows with a length field before that length is
// checked against the bytes actually present.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/result.hpp"

namespace hookd::capture {

//! A WAL position (XLogRecPtr).
using Lsn = std::uint64_t;
//! PostgreSQL's "X/X" form, upper-case hex, e.g. "0/16B3748".
[[nodiscard]] std::string FormatLsn(Lsn lsn);
//! Parses the "X/X" form; nullopt when malformed.
[[nodiscard]] std::optional<Lsn> ParseLsn(std::string_view text);

//! Microseconds since 2000-01-01 00:00:00 UTC (PostgreSQL's TimestampTz epoch).
using PgTime = std::int64_t;
[[nodiscard]] std::int64_t PgTimeToUnixMs(PgTime t);
[[nodiscard]] PgTime UnixMsToPgTime(std::int64_t ms);

// ------------------------------------------------------------- CopyData framing

//! 'w': one chunk of WAL data; `payload` points into the decoded buffer.
struct XLogData {
    Lsn start = 0;
    Lsn end = 0;  //!< the server's current end of WAL
    PgTime sent_at = 0;
    std::span<const std::uint8_t> payload;
};
//! 'k': the server's keepalive; `reply_requested` asks for a status update at once.
struct Keepalive {
    Lsn end = 0;
    PgTime sent_at = 0;
    bool reply_requested = false;
};
using CopyMessage = std::variant<XLogData, Keepalive>;

//! Decodes one CopyData message of a START_REPLICATION stream.
[[nodiscard]] Result<CopyMessage> DecodeCopyData(std::span<const std::uint8_t> bytes);
//! 'r': the standby status update (written, flushed, applied positions and the time).
[[nodiscard]] std::string EncodeStandbyStatus(Lsn written, Lsn flushed, Lsn applied, PgTime now, bool reply = false);

// ------------------------------------------------------------- pgoutput messages

//! One column of a tuple: 'n' null, 'u' unchanged TOASTed value (not sent), 't' text,
//! 'b' binary.
struct TupleValue {
    char kind = 'n';
    std::string data;  //!< for 't' and 'b'
};
using Tuple = std::vector<TupleValue>;

struct Begin {
    Lsn final_lsn = 0;  //!< the commit record's LSN
    PgTime commit_time = 0;
    std::uint32_t xid = 0;
};
struct Commit {
    std::uint8_t flags = 0;
    Lsn commit_lsn = 0;
    Lsn end_lsn = 0;  //!< end of the commit record: the position to confirm
    PgTime commit_time = 0;
};
struct Origin {
    Lsn commit_lsn = 0;
    std::string name;
};
struct RelationColumn {
    bool key = false;  //!< part of the replica identity
    std::string name;
    std::uint32_t type_oid = 0;
    std::int32_t type_mod = 0;
};
struct Relation {
    std::uint32_t id = 0;  //!< the table's OID
    std::string nspname;   //!< empty for pg_catalog
    std::string relname;
    char replica_identity = 'd';  //!< 'd' default, 'n' nothing, 'f' full, 'i' index
    std::vector<RelationColumn> columns;
};
struct TypeInfo {
    std::uint32_t oid = 0;
    std::string nspname;
    std::string name;
};
struct Insert {
    std::uint32_t relation = 0;
    Tuple row;
};
struct Update {
    std::uint32_t relation = 0;
    char old_kind = 0;  //!< 0 none, 'K' old key columns only, 'O' the full old row
    Tuple old_row;
    Tuple row;
};
struct Delete {
    std::uint32_t relation = 0;
    char old_kind = 'K';  //!< 'K' or 'O'
    Tuple old_row;
};
struct Truncate {
    std::uint8_t options = 0;  //!< 1 CASCADE, 2 RESTART IDENTITY
    std::vector<std::uint32_t> relations;
};
//! pg_logical_emit_message (only sent with the `messages` option).
struct LogicalMessage {
    bool transactional = false;
    Lsn lsn = 0;
    std::string prefix;
    std::string content;
};

using PgOutputMessage =
    std::variant<Begin, Commit, Origin, Relation, TypeInfo, Insert, Update, Delete, Truncate, LogicalMessage>;

//! Limits beyond which a message is refused as malformed.
inline constexpr std::size_t kMaxColumns = 1664;  //!< PostgreSQL's MaxTupleAttributeNumber

//! Decodes the payload of one XLogData message sent by pgoutput (proto_version 1).
[[nodiscard]] Result<PgOutputMessage> DecodePgOutput(std::span<const std::uint8_t> bytes);

}  // namespace hookd::capture
