// The principals YAML loader (IdentityStore::LoadFromString, src/auth/identity.h): whatever
// loads is then used as the server uses it: callers are identified by access key in open mode,
// principals are looked up, and a user's identity policies are evaluated.
#include "fuzz/fuzz_common.h"
#include "src/auth/identity.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace kmsd;
    static bool quiet = (fuzz::Quiet(), true);
    (void)quiet;
    auto store = auth::IdentityStore::LoadFromString(std::string(fuzz::AsText(data, size)), "fuzz");
    if (!store.ok()) return 0;
    const auth::AuthDefaults open{auth::AuthMode::kOpen, fuzz::kAccount, fuzz::kRegion};
    // The access keys of the corpus files (tests/fuzz/corpus/principals/).
    for (const char* key : {"AKIAROOT1111EXAMPLE", "AKIAALICE111EXAMPLE", "ASIAAPP11111EXAMPLE",
                            "AKIAWRITER00EXAMPLE", "AKIDEXAMPLE"}) {
        auth::SignedRequest req;
        req.headers.emplace_back("Authorization",
                                 std::string("AWS4-HMAC-SHA256 Credential=") + key +
                                     "/20240101/us-east-1/kms/aws4_request, SignedHeaders=host, "
                                     "Signature=00");
        auto caller = auth::Authenticate(*store, open, req, 1704067200);
        if (!caller.ok()) fuzz::Fail("open mode refused a caller: " + caller.status().message());
        if (caller->identity_policies == nullptr) continue;
        const std::string action = "kms:Encrypt";
        const std::string resource =
            "arn:aws:kms:us-east-1:111122223333:key/11111111-2222-3333-4444-555555555555";
        api::authz::RequestContext ctx{
            action, resource, caller->principal_arn, caller->account, {}};
        for (const auto& policy : *caller->identity_policies) (void)policy.Evaluate(ctx);
    }
    for (const char* principal : {"*", "111122223333", "arn:aws:iam::111122223333:root",
                                  "arn:aws:iam::111122223333:user/alice"})
        (void)store->Knows(principal);
    return 0;
}
