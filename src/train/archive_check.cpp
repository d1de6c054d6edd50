// Checks a libtorch archive before libtorch reads it (archive_check.hpp): the zip structure entry by
// entry (PKWARE APPNOTE 6.3) and the storages its pickles declare (Python's pickle protocol 2, as
// libtorch's pickler writes it: torch/csrc/jit/serialization/pickler.h).
#include "archive_check.hpp"

#include <fmt/core.h>
#include <zlib.h>

#include <array>
#include <limits>
#include <map>
#include <memory>
#include <stdexcept>
#include <unordered_map>

#include <caffe2/serialize/in_memory_adapter.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/api/compilation_unit.h>
#include <torch/csrc/jit/serialization/import_read.h>

#include "rngfree/error.hpp"

namespace rngfree::train::detail {
namespace {

// A value on the walker's stack: only what a storage declaration needs is kept (strings, integers,
// globals, tuples of those); everything else is "other". Shared, so a memo get copies in O(1).
struct PickleValue {
  enum class Kind { kMark, kString, kInt, kGlobal, kTuple, kOther };
  PickleValue() = default;
  PickleValue(Kind k, std::shared_ptr<const std::string> t = nullptr, int64_t n = 0,
              std::shared_ptr<const std::vector<PickleValue>> i = nullptr)
      : kind(k), text(std::move(t)), number(n), items(std::move(i)) {}
  Kind kind = Kind::kOther;
  std::shared_ptr<const std::string> text;               // kString, kGlobal ("module.name")
  int64_t number = 0;                                    // kInt
  std::shared_ptr<const std::vector<PickleValue>> items;  // kTuple
};

class PickleWalk {
 public:
  explicit PickleWalk(std::string_view p) : p_(p) {}

  std::vector<StorageDeclaration> run() {
    using K = PickleValue::Kind;
    if (p_.empty()) bad("it is empty");
    while (true) {
      const size_t op_at = at_;
      const auto op = static_cast<unsigned char>(take(1)[0]);
      switch (op) {
        case 0x80: take(1); break;                                    // PROTO
        case '.': return std::move(found_);                           // STOP
        case '(': stack_.push_back({K::kMark}); break;                // MARK
        case '0': pop(); break;                                       // POP
        case '1': pop_to_mark(); break;                               // POP_MARK
        case '2': stack_.push_back(top()); break;                     // DUP
        case 'K': push_int(static_cast<int64_t>(le(1))); break;       // BININT1
        case 'M': push_int(static_cast<int64_t>(le(2))); break;       // BININT2
        case 'J': push_int(static_cast<int32_t>(le(4))); break;       // BININT
        case 0x8a: {                                                  // LONG1: n-byte two's complement
          const size_t n = static_cast<unsigned char>(take(1)[0]);
          if (n > 8) {
            take(n);
            stack_.push_back({});
            break;
          }
          uint64_t v = n == 0 ? 0 : le(static_cast<int>(n));
          if (n > 0 && n < 8 && (v >> (8 * n - 1)) != 0) v |= ~uint64_t{0} << (8 * n);  // sign-extend
          push_int(static_cast<int64_t>(v));
          break;
        }
        case 'N': case 0x88: case 0x89: stack_.push_back({}); break;  // NONE, NEWTRUE, NEWFALSE
        case 'G': take(8); stack_.push_back({}); break;               // BINFLOAT
        case 'X': push_string(take(le(4))); break;                    // BINUNICODE
        case 0x8c: case 'U': push_string(take(le(1))); break;         // SHORT_BINUNICODE, SHORT_BINSTRING
        case 'T': push_string(take(le(4))); break;                    // BINSTRING
        case 'B': take(le(4)); stack_.push_back({}); break;           // BINBYTES
        case 'C': take(le(1)); stack_.push_back({}); break;           // SHORT_BINBYTES
        case 'c': {                                                   // GLOBAL: module\nname\n
          const std::string module(line()), name(line());
          stack_.push_back({K::kGlobal, std::make_shared<const std::string>(module + "." + name)});
          break;
        }
        case ')': push_tuple({}); break;                              // EMPTY_TUPLE
        case ']': case '}': stack_.push_back({}); break;              // EMPTY_LIST, EMPTY_DICT
        case 't': push_tuple(pop_to_mark()); break;                   // TUPLE
        case 0x85: case 0x86: case 0x87: {                            // TUPLE1..3
          std::vector<PickleValue> items(op - 0x84);
          for (size_t i = items.size(); i-- > 0;) items[i] = pop();
          push_tuple(std::move(items));
          break;
        }
        case 'l': case 'd': pop_to_mark(); stack_.push_back({}); break;  // LIST, DICT
        case 'a': pop(); top(); break;                                // APPEND: the list stays
        case 'e': case 'u': pop_to_mark(); top(); break;              // APPENDS, SETITEMS
        case 's': pop(); pop(); top(); break;                         // SETITEM
        case 'b': pop(); top(); break;                                // BUILD: the object stays
        case 'R': case 0x81: pop(); pop(); stack_.push_back({}); break;  // REDUCE, NEWOBJ
        case 'q': memo_[le(1)] = top(); break;                        // BINPUT
        case 'r': memo_[le(4)] = top(); break;                        // LONG_BINPUT
        case 'h': case 'j': {                                         // BINGET, LONG_BINGET
          const uint64_t index = le(op == 'h' ? 1 : 4);
          const auto it = memo_.find(index);
          if (it == memo_.end()) bad(fmt::format("opcode at byte {} gets memo entry {}, which was never put", op_at, index));
          stack_.push_back(it->second);
          break;
        }
        case 'Q': declare(pop(), op_at); stack_.push_back({}); break;  // BINPERSID
        default:
          bad(fmt::format("opcode 0x{:02x} at byte {} is not one libtorch's pickler writes", op, op_at));
      }
    }
  }

 private:
  // libtorch's persistent id of a storage: ("storage", torch.TYPEStorage, key, location, numel).
  void declare(const PickleValue& id, size_t op_at) {
    using K = PickleValue::Kind;
    const auto& v = id.items;
    if (id.kind != K::kTuple || v->size() != 5 || (*v)[0].kind != K::kString || *(*v)[0].text != "storage" ||
        (*v)[1].kind != K::kGlobal || !(*v)[1].text->starts_with("torch.") || (*v)[2].kind != K::kString ||
        (*v)[4].kind != K::kInt) {
      bad(fmt::format("the persistent id at byte {} is not a storage (\"storage\", torch.TYPE, key, location, numel)", op_at));
    }
    found_.push_back({(*v)[1].text->substr(6), *(*v)[2].text, (*v)[4].number});
  }

  std::string_view take(uint64_t n) {
    if (n > p_.size() - at_) bad(fmt::format("it ends inside an opcode's argument at byte {}", at_));
    const std::string_view s = p_.substr(at_, n);
    at_ += n;
    return s;
  }
  uint64_t le(int n) {
    const std::string_view b = take(n);
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[i]);
    return v;
  }
  std::string_view line() {
    const size_t end = p_.find('\n', at_);
    if (end == std::string_view::npos) bad("a GLOBAL's name has no end of line");
    const size_t length = end - at_;
    return take(length + 1).substr(0, length);
  }
  const PickleValue& top() const {
    if (stack_.empty() || stack_.back().kind == PickleValue::Kind::kMark) bad("an opcode needs a value the stack lacks");
    return stack_.back();
  }
  PickleValue pop() {
    PickleValue v = top();
    stack_.pop_back();
    return v;
  }
  std::vector<PickleValue> pop_to_mark() {
    size_t mark = stack_.size();
    while (mark > 0 && stack_[mark - 1].kind != PickleValue::Kind::kMark) --mark;
    if (mark == 0) bad("an opcode pops to a MARK that is not there");
    std::vector<PickleValue> items(std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(mark)),
                                   std::make_move_iterator(stack_.end()));
    stack_.resize(mark - 1);
    return items;
  }
  void push_int(int64_t v) { stack_.push_back({PickleValue::Kind::kInt, nullptr, v}); }
  void push_string(std::string_view s) {
    stack_.push_back({PickleValue::Kind::kString, std::make_shared<const std::string>(s)});
  }
  void push_tuple(std::vector<PickleValue> items) {
    stack_.push_back({PickleValue::Kind::kTuple, nullptr, 0, std::make_shared<const std::vector<PickleValue>>(std::move(items))});
  }
  [[noreturn]] static void bad(const std::string& what) { throw std::runtime_error("its pickle is damaged: " + what); }

  std::string_view p_;
  size_t at_ = 0;
  std::vector<PickleValue> stack_;
  std::unordered_map<uint64_t, PickleValue> memo_;
  std::vector<StorageDeclaration> found_;
};

// The zip archive libtorch writes (PKWARE APPNOTE 6.3: local headers, a central directory, a zip64
// end record; entries stored or deflated) is checked entry by entry against the CRC-32 and sizes
// its central directory records before libtorch reads it. libtorch 1.13's reader (miniz, built
// without its CRC checks) hands a damaged entry to the TorchScript importer, which can crash on a
// corrupt code/ entry (fuzz/findings/checkpoint-libtorch-jit-segv): a damaged file must be an error.
class ZipCheck {
 public:
  ZipCheck(std::string_view z, const std::string& path) : z_(z), path_(path) {}

  void run() {
    if (z_.size() < 22) fail("too short for a zip archive's end record");
    size_t eocd = std::string_view::npos;
    for (size_t i = z_.size() - 22 + 1, lo = z_.size() > 22 + 65535 ? z_.size() - 22 - 65535 : 0; i-- > lo;) {
      if (u32(i) == 0x06054b50) {
        eocd = i;
        break;
      }
    }
    if (eocd == std::string_view::npos) fail("no zip end-of-central-directory record");
    uint64_t entries = u16(eocd + 10), cd_size = u32(eocd + 12), cd_offset = u32(eocd + 16);
    // libtorch's zip reader (miniz) takes the zip64 end record's numbers whenever its locator is
    // there, whatever the end record says: so does this check (an end record claiming 0 entries
    // beside a zip64 record of 6 let every entry through unchecked: fuzz/findings/checkpoint-zip64-
    // entries-unchecked).
    const bool zip64 = eocd >= 20 && u32(eocd - 20) == 0x07064b50;
    if (!zip64 && (entries == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF)) {
      fail("zip64 end record locator missing");
    }
    if (zip64) {
      const uint64_t z64 = u64(eocd - 20 + 8);
      if (z_.size() < 56 || z64 > z_.size() - 56 || u32(z64) != 0x06064b50) fail("zip64 end record missing");
      entries = u64(z64 + 32);
      cd_size = u64(z64 + 40);
      cd_offset = u64(z64 + 48);
    }
    if (cd_offset > z_.size() || cd_size > z_.size() - cd_offset) fail("central directory outside the file");
    size_t at = cd_offset;
    for (uint64_t e = 0; e < entries; ++e) at = entry(at, cd_offset + cd_size);
    if (at != cd_offset + cd_size) fail("central directory size does not match its entries");
    for (const auto& [name, bytes] : pickles_) check_storages(name, bytes);
  }

 private:
  // One central directory entry at `at` (ending before `end`) and its data; returns the next entry.
  size_t entry(size_t at, size_t end) {
    if (at > end || end - at < 46 || u32(at) != 0x02014b50) fail("central directory entry damaged");
    const unsigned method = u16(at + 10), flags = u16(at + 8);
    const uint32_t crc = u32(at + 16);
    uint64_t csize = u32(at + 20), usize = u32(at + 24), local = u32(at + 42);
    const size_t nlen = u16(at + 28), xlen = u16(at + 30), clen = u16(at + 32);
    if (end - at - 46 < nlen + xlen + clen) fail("central directory entry damaged");
    const std::string name(z_.substr(at + 46, nlen));
    for (size_t x = at + 46 + nlen, xend = x + xlen; x + 4 <= xend;) {  // zip64 extra field: the 0xFFFFFFFF ones
      const unsigned id = u16(x), len = u16(x + 2);
      if (x + 4 + len > xend) fail("entry '" + name + "': extra field damaged");
      if (id == 0x0001) {
        size_t v = x + 4;
        for (uint64_t* f : {&usize, &csize, &local}) {
          if (*f != 0xFFFFFFFF) continue;
          if (v + 8 > x + 4 + len) fail("entry '" + name + "': zip64 field damaged");
          *f = u64(v);
          v += 8;
        }
      }
      x += 4 + len;
    }
    if ((flags & 1) != 0) fail("entry '" + name + "' is encrypted");
    if (!sizes_.emplace(name, usize).second) fail("two entries are named '" + name + "'");
    // libtorch 1.13 reads an archive holding ROOT/model.json with its legacy (pre-1.4) importer, a
    // second parser that rngfree's checkpoints never need.
    if (name == "model.json" || name.ends_with("/model.json")) fail("entry '" + name + "' is the legacy TorchScript format");
    if (local > z_.size() || z_.size() - local < 30 || u32(local) != 0x04034b50) {
      fail("entry '" + name + "': local header missing");
    }
    // The name is covered by no CRC: a record renamed in the central directory alone would hand
    // libtorch another record's bytes (a tensor over a smaller storage: fuzz/findings/
    // checkpoint-meta-storage-overflow). libtorch writes the same name in both headers.
    const size_t local_nlen = u16(local + 26);
    if (local_nlen != nlen || z_.size() - local - 30 < nlen || z_.substr(local + 30, nlen) != name) {
      fail("entry '" + name + "': its local header names another entry");
    }
    const uint64_t data = local + 30 + u16(local + 26) + u16(local + 28);
    if (data > z_.size() || csize > z_.size() - data) fail("entry '" + name + "' extends past the end of the file");
    const std::string_view bytes = z_.substr(data, csize);
    // A top-level pickle (ROOT/NAME.pkl) is kept whole: its storages are checked once all sizes are known.
    const size_t slash = name.find('/');
    std::string* keep = nullptr;
    if (name.size() > 4 && name.ends_with(".pkl") && slash != std::string::npos && name.find('/', slash + 1) == std::string::npos) {
      keep = &pickles_[name];
    }
    uLong got = crc32(0L, Z_NULL, 0);
    if (method == 0) {
      if (csize != usize) fail("entry '" + name + "': stored sizes differ");
      got = crc32_z(got, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size());
      if (keep != nullptr) keep->assign(bytes);
    } else if (method == 8) {
      got = inflated_crc(bytes, usize, name, keep);
    } else {
      fail(fmt::format("entry '{}': compression method {} (libtorch writes 0 or 8)", name, method));
    }
    if (got != crc) fail(fmt::format("entry '{}' is damaged (CRC-32 {:08x}, recorded {:08x})", name, got, crc));
    return at + 46 + nlen + xlen + clen;
  }

  // The CRC-32 of the inflated `in`, which must inflate to exactly `usize` bytes; kept in `keep` if given.
  uLong inflated_crc(std::string_view in, uint64_t usize, const std::string& name, std::string* keep) const {
    z_stream s{};
    if (inflateInit2(&s, -MAX_WBITS) != Z_OK) fail("zlib: cannot start inflating");
    std::array<unsigned char, 1 << 16> out;
    uLong crc = crc32(0L, Z_NULL, 0);
    uint64_t total = 0;
    s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    s.avail_in = static_cast<uInt>(in.size());
    int rc = Z_OK;
    while (rc == Z_OK) {
      s.next_out = out.data();
      s.avail_out = out.size();
      rc = inflate(&s, Z_NO_FLUSH);
      const size_t n = out.size() - s.avail_out;
      total += n;
      crc = crc32_z(crc, out.data(), n);
      if (keep != nullptr && total <= usize) keep->append(reinterpret_cast<const char*>(out.data()), n);
      if (total > usize || (rc == Z_OK && n == 0 && s.avail_in == 0)) break;
    }
    inflateEnd(&s);
    if (rc != Z_STREAM_END || total != usize) fail("entry '" + name + "': damaged deflate stream");
    return crc;
  }

  // libtorch 1.13 sizes a storage from the pickle (numel × itemsize) and hands it whatever record
  // bears its key: a record renamed in both headers would let a tensor read past it
  // (fuzz/findings/checkpoint-meta-storage-overflow). Every declared storage must have its record, exactly.
  void check_storages(const std::string& pkl, const std::string& bytes) const {
    std::vector<StorageDeclaration> declared;
    try {
      declared = pickle_storages(bytes);
    } catch (const std::runtime_error& e) {
      fail("entry '" + pkl + "': " + e.what());
    }
    const std::string dir = pkl.substr(0, pkl.size() - 4) + "/";
    for (const auto& d : declared) {
      const int64_t item = storage_itemsize(d.type);
      if (item == 0) fail(fmt::format("entry '{}' declares a storage of unknown type '{}'", pkl, d.type));
      if (d.numel < 0 || d.numel > std::numeric_limits<int64_t>::max() / item) {
        fail(fmt::format("entry '{}' declares storage '{}' with {} elements", pkl, d.key, d.numel));
      }
      if (d.numel == 0) continue;  // libtorch reads no record for an empty storage
      const auto it = sizes_.find(dir + d.key);
      if (it == sizes_.end()) fail(fmt::format("entry '{}' declares storage '{}' but there is no entry '{}{}'", pkl, d.key, dir, d.key));
      if (it->second != static_cast<uint64_t>(d.numel * item)) {
        fail(fmt::format("entry '{}{}' holds {} bytes but '{}' declares a {} of {} elements ({} bytes)", dir, d.key,
                         it->second, pkl, d.type, d.numel, d.numel * item));
      }
    }
  }

  // Bytes per element of libtorch's storage classes (torch/csrc/utils/tensor_types, the pickler's
  // scalar type names); 0 for anything else.
  static int64_t storage_itemsize(const std::string& type) {
    static const std::map<std::string, int64_t, std::less<>> sizes = {
        {"DoubleStorage", 8}, {"FloatStorage", 4},   {"HalfStorage", 2},         {"BFloat16Storage", 2},
        {"LongStorage", 8},   {"IntStorage", 4},     {"ShortStorage", 2},        {"CharStorage", 1},
        {"ByteStorage", 1},   {"BoolStorage", 1},    {"ComplexFloatStorage", 8}, {"ComplexDoubleStorage", 16},
        {"ComplexHalfStorage", 4}, {"QInt8Storage", 1}, {"QUInt8Storage", 1},    {"QInt32Storage", 4}};
    const auto it = sizes.find(type);
    return it == sizes.end() ? 0 : it->second;
  }

  uint64_t le(size_t at, int n) const {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(z_[at + i]);
    return v;
  }
  unsigned u16(size_t at) const { return static_cast<unsigned>(le(at, 2)); }
  uint32_t u32(size_t at) const { return static_cast<uint32_t>(le(at, 4)); }
  uint64_t u64(size_t at) const { return le(at, 8); }
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(fmt::format("checkpoint '{}': not a readable rngfree checkpoint ({}); the file was damaged after it "
                            "was written — run without --resume to start afresh",
                            path_, what));
  }

  std::string_view z_;
  const std::string& path_;
  std::map<std::string, uint64_t> sizes_;           // entry name → uncompressed size
  std::map<std::string, std::string> pickles_;      // ROOT/NAME.pkl → its bytes
};

}  // namespace

std::vector<StorageDeclaration> pickle_storages(std::string_view pickle) { return PickleWalk(pickle).run(); }

void check_torch_archive(std::string_view zip, const std::string& path) { ZipCheck(zip, path).run(); }

ArchiveTensors::ArchiveTensors(std::string_view zip) {
  caffe2::serialize::PyTorchStreamReader reader(
      std::make_shared<caffe2::serialize::MemoryReadAdapter>(zip.data(), static_cast<off_t>(zip.size())));
  // Every class the pickle names becomes an empty class here (no code is compiled); an object's
  // state must be a dictionary of named tensors, as OutputArchive writes its module.
  const auto cu = std::make_shared<torch::jit::CompilationUnit>();
  const auto resolve = [cu](const c10::QualifiedName& name) {
    c10::ClassTypePtr type = cu->get_class(name);
    if (!type) {
      type = c10::ClassType::create(name, cu);
      cu->register_type(type);
    }
    return c10::StrongTypePtr(cu, type);
  };
  const auto load = [this](const c10::StrongTypePtr& type, const c10::IValue& state) {
    if (!state.isGenericDict()) throw std::runtime_error("an object's state in data.pkl is not a dictionary");
    for (const auto& item : state.toGenericDict()) {
      if (!item.key().isString() || !item.value().isTensor()) {
        throw std::runtime_error("data.pkl holds an entry that is not a named tensor");
      }
      tensors_[item.key().toStringRef()] = item.value().toTensor();
    }
    return c10::ivalue::Object::create(type, 0);
  };
  torch::jit::readArchiveAndTensors("data", "", "", resolve, load, at::Device(at::kCPU), reader);
}

void ArchiveTensors::read(const std::string& key, torch::Tensor& tensor) const {
  const auto it = tensors_.find(key);
  if (it == tensors_.end()) throw std::runtime_error("no tensor '" + key + "' in the archive");
  tensor = it->second;
}

}  // namespace rngfree::train::detail
