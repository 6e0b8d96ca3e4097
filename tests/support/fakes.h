// Shared test fakes: an in-memory SealedKeyStore, a whole in-process KMS (Catalog over
// ":memory:", HSM, clock, dispatcher), and hex helpers.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "api/dispatcher.h"
#include "api/json.h"
#include "common/base64.h"
#include "hsm/blob.h"
#include "hsm/hsm.h"
#include "storage/catalog.h"

namespace kmsd::testing {

class FakeKeyStore : public hsm::SealedKeyStore {
public:
    Result<Bytes> LoadSealed(const std::string& /*arn*/,
                             const std::string& material_id) const override {
        auto it = blobs.find(material_id);
        if (it == blobs.end()) return Error(ErrorCode::kNotFound, "no such material");
        return it->second;
    }
    std::map<std::string, Bytes> blobs;
};

inline Bytes Hex(const std::string& hex) { return hsm::FromHex(hex).value(); }

inline SecureBytes MasterKey(std::uint8_t fill) { return SecureBytes(32, fill); }

// A KMS without sockets: requests go straight to Dispatch().
struct TestKms {
    std::unique_ptr<storage::Catalog> catalog = storage::Catalog::Open(":memory:").value();
    std::unique_ptr<hsm::Hsm> hsm = hsm::Hsm::New(MasterKey(7)).value();
    OffsetClock clock;
    api::UsageTracker usage;
    api::authz::PolicyCache policies;
    api::Services services{*hsm, *catalog, clock, usage, policies};
    api::Dispatcher dispatcher{services};
    api::Caller caller{
        "111122223333", "us-east-1", "arn:aws:iam::111122223333:root", "AKIA", nullptr, {}, {}};

    TestKms() { hsm->set_store(catalog.get()); }

    struct Reply {
        int status;
        std::string body;
        api::Json json;  // null when the body is empty
        std::string type() const {
            return json.is_object() && json.contains("__type")
                       ? api::ToStd(json["__type"].get<SecureString>())
                       : "";
        }
        std::string message() const {
            return json.is_object() && json.contains("message")
                       ? api::ToStd(json["message"].get<SecureString>())
                       : "";
        }
        std::string str(const char* member) const {
            return api::ToStd(json.at(member).get<SecureString>());
        }
    };

    Reply Call(const std::string& op, const std::string& body,
               const std::string& content_type = "application/x-amz-json-1.1") {
        api::Response r =
            dispatcher.Dispatch(caller, "TrentService." + op, content_type, body, "rid");
        Reply out{r.http_status, api::ToStd(r.body), nullptr};
        if (!out.body.empty()) out.json = api::Json::parse(out.body);
        return out;
    }

    // Creates a key and returns its key ID.
    std::string NewKey(const std::string& body = "{}") {
        auto r = Call("CreateKey", body);
        return api::ToStd(r.json["KeyMetadata"]["KeyId"].get<SecureString>());
    }
};

// Helpers several test files share (one definition, so the test files can also be compiled
// together as a unity build).
inline std::string S(const api::Json& j) { return api::ToStd(j.get<SecureString>()); }
inline const std::string kAcct = "111122223333";
inline std::string Arn(const std::string& id) {
    return "arn:aws:kms:us-east-1:" + kAcct + ":key/" + id;
}
inline std::string B64(const std::string& s) { return Base64Encode(View(s)); }

}  // namespace kmsd::testing
