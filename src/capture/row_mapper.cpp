#include "capture/row_mapper.hpp"

#include <algorithm>

namespace hookd::capture {
namespace {

// pg_type OIDs of the integer types whose values are JSON numbers on the wire.
constexpr std::uint32_t kInt8Oid = 20;
constexpr std::uint32_t kInt2Oid = 21;
constexpr std::uint32_t kInt4Oid = 23;
constexpr std::uint32_t kOidOid = 26;

int ColumnIndex(const Relation& rel, const std::string& name) {
    for (std::size_t i = 0; i < rel.columns.size(); ++i) {
        if (rel.columns[i].name == name) return static_cast<int>(i);
    }
    return -1;
}

// The value of column `i`: from `row`, or from `fallback` where `row` did not carry it.
const TupleValue* ValueAt(const Tuple& row, const Tuple* fallback, int i) {
    if (i < 0) return nullptr;
    const auto idx = static_cast<std::size_t>(i);
    if (idx < row.size() && row[idx].kind == 't') return &row[idx];
    if (fallback && idx < fallback->size() && (*fallback)[idx].kind == 't') return &(*fallback)[idx];
    if (idx < row.size()) return &row[idx];
    return nullptr;
}

bool IsNull(const Tuple& row, int i) {
    return i >= 0 && static_cast<std::size_t>(i) < row.size() && row[static_cast<std::size_t>(i)].kind == 'n';
}
bool IsValue(const Tuple& row, int i) {
    return i >= 0 && static_cast<std::size_t>(i) < row.size() && row[static_cast<std::size_t>(i)].kind == 't';
}

}  // namespace

std::optional<EntityId> EntityIdFromColumn(std::string_view text, std::uint32_t type_oid) {
    const bool integer = type_oid == kInt8Oid || type_oid == kInt2Oid || type_oid == kInt4Oid || type_oid == kOidOid;
    const bool digits = !text.empty() && text.size() <= 20 &&
                        std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (integer && digits) {
        // Canonical decimal, as the API would render it (no leading zeros from PostgreSQL).
        return EntityId{std::string(text), true};
    }
    if (!IsValidEntityIdString(text)) return std::nullopt;
    return EntityId{std::string(text), false};
}

Status RowMapper::OnRelation(const Relation& relation) {
    Resolved r;
    r.name = (relation.nspname.empty() ? "pg_catalog" : relation.nspname) + "." + relation.relname;
    r.table = map_.Find(relation.nspname, relation.relname);
    if (r.table) {
        auto need = [&](const std::string& column, const char* key) -> Result<int> {
            const int i = ColumnIndex(relation, column);
            if (i < 0) {
                return Fail(Error::Invalid("capture map " + r.table->where + ": " + r.name + " no longer has column " +
                                           column + " (its \"" + key + "\")"));
            }
            return i;
        };
        auto id = need(r.table->id_column, "id");
        if (!id) return Fail(id.error());
        r.id = *id;
        r.id_type = relation.columns[static_cast<std::size_t>(r.id)].type_oid;
        if (r.table->site_column) {
            auto site = need(*r.table->site_column, "site");
            if (!site) return Fail(site.error());
            r.site = *site;
        }
        if (r.table->archive_column) {
            auto archive = need(*r.table->archive_column, "archive");
            if (!archive) return Fail(archive.error());
            r.archive = *archive;
        }
    }
    relations_[relation.id] = std::move(r);
    return {};
}

std::string RowMapper::NameOf(std::uint32_t relation) const {
    auto it = relations_.find(relation);
    return it == relations_.end() ? "relation " + std::to_string(relation) : it->second.name;
}

Result<const RowMapper::Resolved*> RowMapper::Find(std::uint32_t relation) const {
    auto it = relations_.find(relation);
    if (it == relations_.end()) {
        return Fail(Error::Internal("pgoutput sent a change of relation " + std::to_string(relation) +
                                    " before describing it"));
    }
    return &it->second;
}

RowOutcome RowMapper::Build(const Resolved& r, EventType type, const Tuple& row, const Tuple* fallback) const {
    RowOutcome out;
    if (!r.table) {
        out.kind = RowOutcome::Kind::kUnmappedTable;
        out.detail = r.name;
        return out;
    }
    out.kind = RowOutcome::Kind::kBadRow;
    const TupleValue* id = ValueAt(row, fallback, r.id);
    if (!id || id->kind != 't') {
        out.detail =
            r.name + ": the row's " + r.table->id_column + " was not sent (NULL, or not in the replica identity)";
        return out;
    }
    auto entity_id = EntityIdFromColumn(id->data, r.id_type);
    if (!entity_id) {
        out.detail = r.name + ": " + r.table->id_column + " '" + id->data.substr(0, 64) + "' is not a valid entity id";
        return out;
    }
    if (r.table->site_id) {
        out.site = *r.table->site_id;
    } else {
        const TupleValue* site = ValueAt(row, fallback, r.site);
        if (!site || site->kind != 't') {
            out.detail = r.name + ": the row's " + *r.table->site_column +
                         " was not sent (NULL, or not in the replica identity)";
            return out;
        }
        out.site = site->data;
    }
    out.kind = RowOutcome::Kind::kEvent;
    out.event.site = out.site;
    out.event.type = type;
    out.event.entity = r.table->entity;
    out.event.entity_id = std::move(*entity_id);
    return out;
}

Result<RowOutcome> RowMapper::Map(const Insert& insert) const {
    auto r = Find(insert.relation);
    if (!r) return Fail(r.error());
    return Build(**r, EventType::kCreate, insert.row, nullptr);
}

Result<RowOutcome> RowMapper::Map(const Update& update) const {
    auto r = Find(update.relation);
    if (!r) return Fail(r.error());
    const Resolved& res = **r;
    const Tuple* old = update.old_kind ? &update.old_row : nullptr;
    EventType type = EventType::kUpdate;
    // ARCHIVE: the archive column went from NULL to a value. Only a full old row ('O')
    // says it was NULL before; the start-up check requires REPLICA IDENTITY FULL for it.
    if (res.archive >= 0 && update.old_kind == 'O' && IsNull(update.old_row, res.archive) &&
        IsValue(update.row, res.archive)) {
        type = EventType::kArchive;
    }
    return Build(res, type, update.row, old);
}

Result<RowOutcome> RowMapper::Map(const Delete& del) const {
    auto r = Find(del.relation);
    if (!r) return Fail(r.error());
    return Build(**r, EventType::kDelete, del.old_row, nullptr);
}

}  // namespace hookd::capture
