// A strict little JSON parser for tests (checks the trace exporter writes valid JSON).
#pragma once

#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace chip {
namespace testing {

struct JsonValue {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject } type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<JsonValue> array;
  std::map<std::string, JsonValue> object;

  const JsonValue& operator[](const std::string& key) const {
    static const JsonValue kNull;
    auto it = object.find(key);
    return it == object.end() ? kNull : it->second;
  }
  bool has(const std::string& key) const { return object.count(key) != 0; }
};

class JsonParser {
 public:
  // Returns false (with error()) on anything that is not exactly one valid JSON value.
  bool Parse(const std::string& text, JsonValue* out) {
    s_ = &text;
    pos_ = 0;
    if (!Value(out, 0)) return false;
    SkipWs();
    if (pos_ != s_->size()) return Fail("trailing characters");
    return true;
  }
  const std::string& error() const { return error_; }

 private:
  bool Fail(const std::string& why) {
    error_ = why + " at offset " + std::to_string(pos_);
    return false;
  }
  void SkipWs() {
    while (pos_ < s_->size() && ((*s_)[pos_] == ' ' || (*s_)[pos_] == '\n' || (*s_)[pos_] == '\r' || (*s_)[pos_] == '\t')) ++pos_;
  }
  bool Literal(const char* lit) {
    const std::string l(lit);
    if (s_->compare(pos_, l.size(), l) != 0) return false;
    pos_ += l.size();
    return true;
  }
  bool Value(JsonValue* v, int depth) {
    if (depth > 64) return Fail("too deep");
    SkipWs();
    if (pos_ >= s_->size()) return Fail("unexpected end");
    const char c = (*s_)[pos_];
    if (c == '{') return Object(v, depth);
    if (c == '[') return Array(v, depth);
    if (c == '"') {
      v->type = JsonValue::Type::kString;
      return String(&v->string);
    }
    if (Literal("true")) { v->type = JsonValue::Type::kBool; v->boolean = true; return true; }
    if (Literal("false")) { v->type = JsonValue::Type::kBool; v->boolean = false; return true; }
    if (Literal("null")) { v->type = JsonValue::Type::kNull; return true; }
    return Number(v);
  }
  bool Number(JsonValue* v) {
    const size_t start = pos_;
    if (pos_ < s_->size() && (*s_)[pos_] == '-') ++pos_;
    auto digits = [&] {
      const size_t b = pos_;
      while (pos_ < s_->size() && isdigit(static_cast<unsigned char>((*s_)[pos_]))) ++pos_;
      return pos_ > b;
    };
    if (!digits()) return Fail("bad number");
    if (pos_ < s_->size() && (*s_)[pos_] == '.') {
      ++pos_;
      if (!digits()) return Fail("bad fraction");
    }
    if (pos_ < s_->size() && ((*s_)[pos_] == 'e' || (*s_)[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_->size() && ((*s_)[pos_] == '+' || (*s_)[pos_] == '-')) ++pos_;
      if (!digits()) return Fail("bad exponent");
    }
    v->type = JsonValue::Type::kNumber;
    v->number = std::strtod(s_->substr(start, pos_ - start).c_str(), nullptr);
    return true;
  }
  bool String(std::string* out) {
    ++pos_;  // opening quote
    while (pos_ < s_->size()) {
      const unsigned char c = static_cast<unsigned char>((*s_)[pos_++]);
      if (c == '"') return true;
      if (c < 0x20) return Fail("control character in string");
      if (c != '\\') {
        out->push_back(static_cast<char>(c));
        continue;
      }
      if (pos_ >= s_->size()) return Fail("bad escape");
      const char e = (*s_)[pos_++];
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          if (pos_ + 4 > s_->size()) return Fail("bad \\u escape");
          for (int i = 0; i < 4; ++i) {
            if (!isxdigit(static_cast<unsigned char>((*s_)[pos_ + i]))) return Fail("bad \\u escape");
          }
          const unsigned cp = static_cast<unsigned>(std::strtoul(s_->substr(pos_, 4).c_str(), nullptr, 16));
          pos_ += 4;
          if (cp < 0x80) {
            out->push_back(static_cast<char>(cp));
          } else if (cp < 0x800) {
            out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
            out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
          } else {
            out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
            out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
          }
          break;
        }
        default: return Fail("bad escape");
      }
    }
    return Fail("unterminated string");
  }
  bool Array(JsonValue* v, int depth) {
    v->type = JsonValue::Type::kArray;
    ++pos_;
    SkipWs();
    if (pos_ < s_->size() && (*s_)[pos_] == ']') { ++pos_; return true; }
    for (;;) {
      v->array.emplace_back();
      if (!Value(&v->array.back(), depth + 1)) return false;
      SkipWs();
      if (pos_ >= s_->size()) return Fail("unterminated array");
      const char c = (*s_)[pos_++];
      if (c == ']') return true;
      if (c != ',') return Fail("expected , or ]");
    }
  }
  bool Object(JsonValue* v, int depth) {
    v->type = JsonValue::Type::kObject;
    ++pos_;
    SkipWs();
    if (pos_ < s_->size() && (*s_)[pos_] == '}') { ++pos_; return true; }
    for (;;) {
      SkipWs();
      if (pos_ >= s_->size() || (*s_)[pos_] != '"') return Fail("expected key");
      std::string key;
      if (!String(&key)) return false;
      SkipWs();
      if (pos_ >= s_->size() || (*s_)[pos_++] != ':') return Fail("expected :");
      if (!Value(&v->object[key], depth + 1)) return false;
      SkipWs();
      if (pos_ >= s_->size()) return Fail("unterminated object");
      const char c = (*s_)[pos_++];
      if (c == '}') return true;
      if (c != ',') return Fail("expected , or }");
    }
  }

  const std::string* s_ = nullptr;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace testing
}  // namespace chip
