// libFuzzer target: the change capture decoders (capture/pgoutput.hpp) — one pgoutput
// message, one CopyData message of the replication stream — and the row mapper fed with
// whatever decodes.
//
// Input: the bytes of one message. The first byte picks the decoder when it is not a
// pgoutput kind: 'w'/'k' go to DecodeCopyData (whose XLogData payload is decoded too).
//
// Properties checked, beyond "no crash, leak or undefined behaviour":
//  - an error is one line and kInvalid;
//  - a decoded message's tuples hold at most kMaxColumns values, never more than the input's
//    bytes allow;
//  - a Relation then a row change of it maps without error (an event or a skip).
#include <cstdint>
#include <span>
#include <string>

#include "capture/capture_map.hpp"
#include "capture/pgoutput.hpp"
#include "capture/row_mapper.hpp"
#include "fuzz_common.hpp"

namespace {

using namespace hookd;
using namespace hookd::capture;
using fuzz::Check;

const CaptureMap& Map() {
    static const CaptureMap map = [] {
        auto cat = Catalogue::Parse(R"({"entities":[{"name":"Agreement"}]})");
        auto m = ParseCaptureMap(
            R"({"tables":[{"table":"public.t","entity":"Agreement","id":"id","site":"site","archive":"gone"}]})", *cat);
        return *m;
    }();
    return map;
}

void CheckError(const Error& e) {
    Check(e.code == ErrorCode::kInvalid, "decoder error is kInvalid", e.message);
    Check(e.message.find('\n') == std::string::npos, "decoder error is one line", e.message);
}

void CheckTuple(const Tuple& t, std::size_t input) {
    Check(t.size() <= kMaxColumns && t.size() <= input, "tuple bounded by the input");
}

void Decode(std::span<const std::uint8_t> bytes) {
    auto m = DecodePgOutput(bytes);
    if (!m) return CheckError(m.error());
    RowMapper mapper(Map());
    if (const auto* r = std::get_if<Relation>(&*m)) {
        Check(r->columns.size() <= kMaxColumns, "relation columns bounded");
        Relation rel = *r;
        rel.nspname = "public";
        rel.relname = "t";
        if (mapper.OnRelation(rel)) {
            Insert ins{rel.id, {}};
            for (std::size_t i = 0; i < rel.columns.size(); ++i) ins.row.push_back({'t', rel.columns[i].name});
            Check(mapper.Map(ins).has_value(), "a described relation's row maps");
        }
    }
    if (const auto* i = std::get_if<Insert>(&*m)) CheckTuple(i->row, bytes.size());
    if (const auto* u = std::get_if<Update>(&*m)) {
        CheckTuple(u->row, bytes.size());
        CheckTuple(u->old_row, bytes.size());
    }
    if (const auto* d = std::get_if<Delete>(&*m)) CheckTuple(d->old_row, bytes.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::span<const std::uint8_t> bytes(data, size);
    Decode(bytes);
    auto c = DecodeCopyData(bytes);
    if (!c) {
        CheckError(c.error());
    } else if (const auto* x = std::get_if<XLogData>(&*c)) {
        Check(x->payload.size() + 25 == size, "XLogData payload is the rest of the message");
        Decode(x->payload);
    }
    return 0;
}
