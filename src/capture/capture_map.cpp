#include "capture/capture_map.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <fstream>
#include <sstream>

namespace hookd::capture {
namespace {

namespace json = boost::json;

// Names as PostgreSQL stores them in its catalogue (matched exactly). Restricted to plain
// identifiers so that a name in a message is the name to type in SQL.
bool IsIdentifier(std::string_view s) {
    if (s.empty() || s.size() > 63) return false;
    if (!std::isalpha(static_cast<unsigned char>(s[0])) && s[0] != '_') return false;
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$'; });
}

// Replication slot names: lower-case letters, digits and underscores (PostgreSQL's rule).
bool IsSlotName(std::string_view s) {
    if (s.empty() || s.size() > 63) return false;
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

Error Bad(const std::string& where, const std::string& message) {
    return Error::Invalid(where.empty() ? message : where + ": " + message);
}

Result<std::string> StringField(const json::object& o, std::string_view key, const std::string& where) {
    const auto* v = o.if_contains(key);
    if (!v) return Fail(Bad(where, "missing \"" + std::string(key) + "\""));
    if (!v->is_string() || v->as_string().empty()) {
        return Fail(Bad(where + "." + std::string(key), "must be a non-empty string"));
    }
    return std::string(v->as_string());
}

Result<std::optional<std::string>> OptionalString(const json::object& o, std::string_view key,
                                                  const std::string& where) {
    if (!o.contains(key)) return std::optional<std::string>();
    auto s = StringField(o, key, where);
    if (!s) return Fail(s.error());
    return std::optional<std::string>(std::move(*s));
}

Status CheckKeys(const json::object& o, std::initializer_list<std::string_view> known, const std::string& where) {
    for (const auto& kv : o) {
        if (std::find(known.begin(), known.end(), kv.key()) == known.end()) {
            return Fail(Bad(where, "unknown key \"" + std::string(kv.key()) + "\""));
        }
    }
    return {};
}

Status CheckColumn(const std::optional<std::string>& column, std::string_view key, const std::string& where) {
    if (column && !IsIdentifier(*column)) {
        return Fail(Bad(where + "." + std::string(key), "'" + *column + "' is not a plain column name"));
    }
    return {};
}

Result<TableMap> ParseTable(const json::value& v, std::size_t index, const Catalogue& catalogue) {
    TableMap t;
    t.where = "tables[" + std::to_string(index) + "]";
    const auto* o = v.if_object();
    if (!o) return Fail(Bad(t.where, "must be an object"));
    if (auto r = CheckKeys(*o, {"table", "entity", "id", "site", "siteId", "archive"}, t.where); !r)
        return Fail(r.error());
    auto table = StringField(*o, "table", t.where);
    if (!table) return Fail(table.error());
    if (const auto dot = table->find('.'); dot != std::string::npos) {
        t.schema = table->substr(0, dot);
        t.table = table->substr(dot + 1);
    } else {
        t.table = *table;
    }
    if (!IsIdentifier(t.schema) || !IsIdentifier(t.table)) {
        return Fail(Bad(t.where + ".table", "'" + *table + "' is not a table name (schema.table)"));
    }
    auto entity = StringField(*o, "entity", t.where);
    if (!entity) return Fail(entity.error());
    const auto canonical = catalogue.Canonical(*entity);
    if (canonical.empty()) return Fail(Bad(t.where + ".entity", "'" + *entity + "' is not in the catalogue"));
    t.entity = std::string(canonical);
    auto id = StringField(*o, "id", t.where);
    if (!id) return Fail(id.error());
    t.id_column = std::move(*id);
    auto site = OptionalString(*o, "site", t.where);
    if (!site) return Fail(site.error());
    auto site_id = OptionalString(*o, "siteId", t.where);
    if (!site_id) return Fail(site_id.error());
    if (site->has_value() == site_id->has_value()) {
        return Fail(Bad(t.where, "needs exactly one of \"site\" (a column) and \"siteId\" (a fixed site)"));
    }
    if (*site_id && !IsValidSiteId(**site_id)) {
        return Fail(Bad(t.where + ".siteId", "'" + **site_id + "' is not a site id ([a-z0-9][a-z0-9-]{0,62})"));
    }
    t.site_column = std::move(*site);
    t.site_id = std::move(*site_id);
    auto archive = OptionalString(*o, "archive", t.where);
    if (!archive) return Fail(archive.error());
    t.archive_column = std::move(*archive);
    if (auto r = CheckColumn(t.id_column, "id", t.where); !r) return Fail(r.error());
    if (auto r = CheckColumn(t.site_column, "site", t.where); !r) return Fail(r.error());
    if (auto r = CheckColumn(t.archive_column, "archive", t.where); !r) return Fail(r.error());
    return t;
}

}  // namespace

std::string QuoteIdent(std::string_view name) {
    std::string out = "\"";
    for (char c : name) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

std::string TableMap::SqlName() const { return QuoteIdent(schema) + "." + QuoteIdent(table); }

const TableMap* CaptureMap::Find(std::string_view schema, std::string_view table) const {
    for (const auto& t : tables) {
        if (t.schema == schema && t.table == table) return &t;
    }
    return nullptr;
}

Result<CaptureMap> ParseCaptureMap(std::string_view text, const Catalogue& catalogue) {
    boost::system::error_code ec;
    auto doc = json::parse(text, ec);
    if (ec) return Fail(Error::Invalid("not valid JSON (" + ec.message() + ")"));
    const auto* o = doc.if_object();
    if (!o) return Fail(Error::Invalid("must be a JSON object"));
    if (auto r = CheckKeys(*o, {"slot", "publication", "tables"}, ""); !r) return Fail(r.error());
    CaptureMap map;
    auto slot = OptionalString(*o, "slot", "");
    if (!slot) return Fail(slot.error());
    if (*slot) map.slot = **slot;
    if (!IsSlotName(map.slot)) {
        return Fail(Error::Invalid("slot: '" + map.slot + "' is not a slot name ([a-z0-9_]{1,63})"));
    }
    auto publication = OptionalString(*o, "publication", "");
    if (!publication) return Fail(publication.error());
    if (*publication) map.publication = **publication;
    if (!IsIdentifier(map.publication)) {
        return Fail(Error::Invalid("publication: '" + map.publication + "' is not a plain publication name"));
    }
    const auto* tables = o->if_contains("tables");
    if (!tables) return Fail(Error::Invalid("missing \"tables\""));
    if (!tables->is_array() || tables->as_array().empty()) {
        return Fail(Error::Invalid("tables: must be a non-empty list"));
    }
    for (std::size_t i = 0; i < tables->as_array().size(); ++i) {
        auto t = ParseTable(tables->as_array()[i], i, catalogue);
        if (!t) return Fail(t.error());
        if (map.Find(t->schema, t->table)) return Fail(Bad(t->where, t->Name() + " is mapped twice"));
        map.tables.push_back(std::move(*t));
    }
    return map;
}

Result<CaptureMap> LoadCaptureMap(const std::string& path, const Catalogue& catalogue) {
    std::ifstream in(path);
    if (!in) return Fail(Error::Invalid("--capture-map " + path + ": cannot read the file"));
    std::stringstream buf;
    buf << in.rdbuf();
    auto map = ParseCaptureMap(buf.str(), catalogue);
    if (!map) return Fail(Error::Invalid("--capture-map " + path + ": " + map.error().message));
    return map;
}

}  // namespace hookd::capture
