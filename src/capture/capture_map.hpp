#pragma once
// The capture map (SPEC §10): which tables of the source database become which entity's
// events, where each row's entity id and site come from, and the optional archive column.
// Parsing checks everything that can be checked without the source database; the source
// checks (tables, columns, replica identity) are in source_check.hpp.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/catalogue.hpp"
#include "core/ids.hpp"
#include "core/result.hpp"

namespace hookd::capture {

struct TableMap {
    std::string schema = "public";  //!< "public" when the map names the table without one
    std::string table;
    std::string entity;                         //!< the catalogue's spelling
    std::string id_column;                      //!< its value becomes entityId
    std::optional<std::string> site_column;     //!< a column holding the hookd site id...
    std::optional<SiteId> site_id;              //!< ...or one fixed site (exactly one of the two)
    std::optional<std::string> archive_column;  //!< NULL → non-NULL in an UPDATE makes it ARCHIVE
    std::string where;                          //!< "tables[i]", for messages

    //! "schema.table", as messages and the map spell it.
    [[nodiscard]] std::string Name() const { return schema + "." + table; }
    //! The quoted SQL name, "schema"."table".
    [[nodiscard]] std::string SqlName() const;
};

struct CaptureMap {
    std::string slot = "hookd";         //!< the logical replication slot (created when missing)
    std::string publication = "hookd";  //!< the publication (created for exactly these tables when missing)
    std::vector<TableMap> tables;       //!< at least one; no table twice

    //! The table with this schema and name, or nullptr.
    [[nodiscard]] const TableMap* Find(std::string_view schema, std::string_view table) const;
};

//! Parses and validates a map file's text. Errors (kInvalid) are one line naming the
//! problem: not JSON, an unknown or missing key, a bad slot/publication/table/column name,
//! an entity not in `catalogue`, both or neither of `site` and `siteId`, a bad site id, a
//! table mapped twice.
[[nodiscard]] Result<CaptureMap> ParseCaptureMap(std::string_view json, const Catalogue& catalogue);
//! Reads and parses `path`; messages start with "--capture-map PATH: ".
[[nodiscard]] Result<CaptureMap> LoadCaptureMap(const std::string& path, const Catalogue& catalogue);

//! Double-quotes a SQL identifier (doubling any quote inside).
[[nodiscard]] std::string QuoteIdent(std::string_view name);

}  // namespace hookd::capture
