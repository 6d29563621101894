#pragma once
// Turns decoded row changes into change events, per the capture map. Pure: it keeps the
// relation metadata the stream sent (a new Relation message for a table replaces the old
// one, e.g. after ALTER TABLE) and never touches a database.
#include <cstdint>
#include <string>
#include <unordered_map>

#include "capture/capture_map.hpp"
#include "capture/pgoutput.hpp"
#include "core/domain.hpp"
#include "core/result.hpp"

namespace hookd::capture {

//! What one row change becomes.
struct RowOutcome {
    enum class Kind {
        kEvent,          //!< `site` and `event` are set
        kUnmappedTable,  //!< a published table the map does not name; `detail` is its name
        kBadRow,         //!< a mapped table's row without a usable id or site; `detail` says why
    };
    Kind kind = Kind::kEvent;
    SiteId site;
    ChangeEvent event;  //!< type, entity and entity_id (id and time are the store's)
    std::string detail;
};

class RowMapper final {
  public:
    explicit RowMapper(const CaptureMap& map) : map_(map) {}

    //! Records (or replaces) a table's metadata. Errors (kInvalid, one line) when a mapped
    //! table no longer has a mapped column: its changes cannot be turned into events.
    Status OnRelation(const Relation& relation);

    //! Errors only when the relation was never described (a protocol violation).
    [[nodiscard]] Result<RowOutcome> Map(const Insert& insert) const;
    [[nodiscard]] Result<RowOutcome> Map(const Update& update) const;
    [[nodiscard]] Result<RowOutcome> Map(const Delete& del) const;

    //! The "schema.table" name of a described relation, or its OID.
    [[nodiscard]] std::string NameOf(std::uint32_t relation) const;

  private:
    struct Resolved {
        std::string name;                 //!< schema.table
        const TableMap* table = nullptr;  //!< nullptr: not mapped
        int id = -1;                      //!< column positions in the tuple
        int site = -1;
        int archive = -1;
        std::uint32_t id_type = 0;
    };

    [[nodiscard]] Result<const Resolved*> Find(std::uint32_t relation) const;
    //! Builds the event of a row (`row` for the id and site, `fallback` where a value was not
    //! sent: an unchanged TOASTed value, or a key-only old row).
    [[nodiscard]] RowOutcome Build(const Resolved& r, EventType type, const Tuple& row, const Tuple* fallback) const;

    const CaptureMap& map_;
    std::unordered_map<std::uint32_t, Resolved> relations_;
};

//! The entity id of a column value: a non-negative integer of an integer-typed column is a
//! JSON number, anything else a string (which must be a valid entity id string).
[[nodiscard]] std::optional<EntityId> EntityIdFromColumn(std::string_view text, std::uint32_t type_oid);

}  // namespace hookd::capture
