// [api][xks]: external key stores end to end without sockets: kmsd's operations reach an
// in-process `kmsd xks-proxy` (ProxyCore) through a transport that signs each request as the
// HTTPS transport does and hands it to the proxy, which checks the signature. A switch makes the
// transport fail as a network would, to check what each operation makes of it.
#include <catch2/catch.hpp>

#include "api/key_stores.h"
#include "api/lifecycle.h"
#include "hsm/blob.h"
#include "src/xks/proxy.h"
#include "src/xks/transport.h"
#include "support/fakes.h"
#include "support/http_app.h"

using namespace kmsd;
using api::xks::Failure;
using kmsd::testing::TestKms;

namespace {

constexpr char kAccessKeyId[] = "ABCDEFGHIJKLMNOPQRST";
constexpr char kSecret[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP1234";

using kmsd::testing::S;

// The proxy, in process: what it is sent, and how the network misbehaves.
struct InProcessProxy final : api::xks::Transport {
    xks::ProxyCore core{[] {
                            xks::ProxyOptions o;
                            o.access_key_id = kAccessKeyId;
                            o.secret_access_key = kSecret;
                            o.keys = {"k1", "k2"};
                            o.disabled_keys = {"off"};
                            return o;
                        }(),
                        SecureBytes(32, 9)};
    Failure network = Failure::kNone;  // what every call fails with, when not kNone
    std::vector<std::pair<std::string, std::string>> calls;  // target, body

    Failure Post(const api::xks::Endpoint& endpoint, std::string_view path, std::string_view body,
                 int& status, std::string& answer) override {
        if (network != Failure::kNone) return network;
        const std::string target = endpoint.uri_path + std::string(path);
        const std::string date = xks::AmzDateNow();
        const std::string host = endpoint.uri_endpoint.substr(8);
        const std::vector<std::pair<std::string, std::string>> headers = {
            {"host", host},
            {"x-amz-date", date},
            {"authorization", xks::XksAuthorization(endpoint, host, target, date, body)}};
        calls.emplace_back(target, std::string(body));
        const double now = static_cast<double>(std::time(nullptr));
        xks::ProxyReply reply = core.Handle("POST", target, headers, body, now);
        status = reply.status;
        answer = std::move(reply.body);
        return Failure::kNone;
    }
};

struct XksKms : TestKms {
    InProcessProxy proxy;
    XksKms() { services.xks = &proxy; }

    std::string CreateStore(const std::string& secret = kSecret) {
        nlohmann::json create = {{"CustomKeyStoreName", "xks"},
                                 {"CustomKeyStoreType", "EXTERNAL_KEY_STORE"},
                                 {"XksProxyConnectivity", "PUBLIC_ENDPOINT"},
                                 {"XksProxyUriEndpoint", "https://xks.example.com"},
                                 {"XksProxyUriPath", "/kms/xks/v1"},
                                 {"XksProxyAuthenticationCredential",
                                  {{"AccessKeyId", kAccessKeyId}, {"RawSecretAccessKey", secret}}}};
        auto r = Call("CreateCustomKeyStore", create.dump());
        return r.status == 200 ? r.str("CustomKeyStoreId") : r.type();
    }
    std::string State(const std::string& id) {
        auto r = Call("DescribeCustomKeyStores", "{\"CustomKeyStoreId\":\"" + id + "\"}");
        const auto& s = r.json["CustomKeyStores"][0];
        std::string state = S(s["ConnectionState"]);
        if (s.contains("ConnectionErrorCode")) state += " " + S(s["ConnectionErrorCode"]);
        return state;
    }
    void Connect(const std::string& id) {
        REQUIRE(Call("ConnectCustomKeyStore", "{\"CustomKeyStoreId\":\"" + id + "\"}").status ==
                200);
        REQUIRE(api::RunDue(services, clock.Now() + api::kConnectSeconds + 1).ok());
    }
    Reply XksKey(const std::string& store, const std::string& xks_key_id) {
        return Call("CreateKey", "{\"Origin\":\"EXTERNAL_KEY_STORE\",\"CustomKeyStoreId\":\"" +
                                     store + "\",\"XksKeyId\":\"" + xks_key_id + "\"}");
    }
};

}  // namespace

TEST_CASE("an external key store is checked against its proxy when created", "[api][xks]") {
    XksKms kms;
    SECTION("a proxy that does not answer: nothing is stored") {
        kms.proxy.network = Failure::kUnreachable;
        CHECK(kms.CreateStore() == "XksProxyUriUnreachableException");
        kms.proxy.network = Failure::kTimeout;
        CHECK(kms.CreateStore() == "XksProxyUriUnreachableException");
        kms.proxy.network = Failure::kTls;
        CHECK(kms.CreateStore() == "XksProxyUriUnreachableException");
        CHECK(kms.catalog->ListStores("111122223333", "us-east-1").empty());
        CHECK_FALSE(kms.catalog->HasExternalStores());
    }
    SECTION("a wrong secret: the proxy refuses the signature") {
        CHECK(kms.CreateStore(std::string(44, 'A')) ==
              "XksProxyIncorrectAuthenticationCredentialException");
        CHECK(kms.catalog->ListStores("111122223333", "us-east-1").empty());
    }
    SECTION("the proxy answers: a DISCONNECTED store that shows no secret") {
        const std::string id = kms.CreateStore();
        REQUIRE(id.rfind("cks-", 0) == 0);
        CHECK(kms.catalog->HasExternalStores());
        REQUIRE(kms.proxy.calls.size() == 1);
        CHECK(kms.proxy.calls[0].first == "/kms/xks/v1/health");
        CHECK(kms.proxy.calls[0].second.find("CreateCustomKeyStore") != std::string::npos);
        CHECK(kms.State(id) == "DISCONNECTED");
        auto r = kms.Call("DescribeCustomKeyStores", "{}");
        CHECK(r.body.find(kSecret) == std::string::npos);
        CHECK(S(r.json["CustomKeyStores"][0]["XksProxyConfiguration"]["AccessKeyId"]) ==
              kAccessKeyId);
        // Nor is it in the database in the clear.
        auto store = kms.catalog->FindStore(id);
        CHECK(store->config.find(kSecret) == std::string::npos);
        CHECK(kms.CreateStore() == "CustomKeyStoreNameInUseException");
    }
}

TEST_CASE("external key store settings are checked before the proxy is asked", "[api][xks]") {
    XksKms kms;
    const nlohmann::json credential = {{"AccessKeyId", kAccessKeyId},
                                       {"RawSecretAccessKey", kSecret}};
    const nlohmann::json base = {{"CustomKeyStoreName", "v"},
                                 {"CustomKeyStoreType", "EXTERNAL_KEY_STORE"},
                                 {"XksProxyConnectivity", "PUBLIC_ENDPOINT"},
                                 {"XksProxyUriEndpoint", "https://xks.example.com"},
                                 {"XksProxyUriPath", "/kms/xks/v1"},
                                 {"XksProxyAuthenticationCredential", credential}};
    const auto create = [&](nlohmann::json body) {
        return kms.Call("CreateCustomKeyStore", body.dump());
    };
    for (const char* member : {"XksProxyConnectivity", "XksProxyUriEndpoint", "XksProxyUriPath",
                               "XksProxyAuthenticationCredential"}) {
        INFO(member);
        nlohmann::json body = base;
        body.erase(member);
        auto r = create(body);
        CHECK(r.type() == "ValidationException");
        CHECK(r.message() ==
              std::string(member) + " is required for an EXTERNAL_KEY_STORE custom key store.");
    }
    nlohmann::json body = base;
    body["KeyStorePassword"] = "kmsPswd1";
    CHECK(create(body).message() ==
          "KeyStorePassword is valid only for an AWS_CLOUDHSM custom key store.");
    body = base;
    body["XksProxyVpcEndpointServiceName"] =
        "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0";
    CHECK(create(body).type() == "ValidationException");  // not for PUBLIC_ENDPOINT
    body = base;
    body["XksProxyConnectivity"] = "VPC_ENDPOINT_SERVICE";
    CHECK(create(body).message() ==
          "XksProxyVpcEndpointServiceName is required when XksProxyConnectivity is "
          "VPC_ENDPOINT_SERVICE.");
    // The model's patterns: a port, plain HTTP, a path in the endpoint; a short access key ID.
    for (const char* endpoint : {"https://xks.example.com:8443", "http://xks.example.com",
                                 "https://xks.example.com/kms"}) {
        INFO(endpoint);
        body = base;
        body["XksProxyUriEndpoint"] = endpoint;
        CHECK(create(body).type() == "ValidationException");
    }
    body = base;
    body["XksProxyAuthenticationCredential"]["AccessKeyId"] = "ABCDEFG";
    CHECK(create(body).type() == "ValidationException");
    body = base;
    body["XksProxyAuthenticationCredential"].erase("RawSecretAccessKey");
    CHECK(create(body).type() == "ValidationException");
    CHECK(kms.proxy.calls.empty());  // none of these reached the proxy
    CHECK(kms.catalog->ListStores("111122223333", "us-east-1").empty());

    // Uniqueness: the same endpoint and path; a VPC store's endpoint; its endpoint service.
    REQUIRE(create(base).status == 200);
    body = base;
    body["CustomKeyStoreName"] = "w";
    CHECK(create(body).type() == "XksProxyUriInUseException");
    body["XksProxyUriPath"] = "/tenant-b/kms/xks/v1";
    // The same endpoint with another path is not in use: the proxy is asked (and this one
    // serves only /kms/xks/v1).
    CHECK(create(body).type() == "XksProxyInvalidConfigurationException");
    nlohmann::json vpc = base;
    vpc["CustomKeyStoreName"] = "vpc";
    vpc["XksProxyConnectivity"] = "VPC_ENDPOINT_SERVICE";
    vpc["XksProxyUriEndpoint"] = "https://vpc.example.com";
    vpc["XksProxyVpcEndpointServiceName"] =
        "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0";
    const std::size_t calls = kms.proxy.calls.size();
    auto made = create(vpc);
    REQUIRE(made.status == 200);
    CHECK(kms.proxy.calls.size() == calls);  // a VPC store waits for Connect
    nlohmann::json reuse = base;
    reuse["CustomKeyStoreName"] = "public-on-vpc-endpoint";
    reuse["XksProxyUriEndpoint"] = "https://vpc.example.com";
    reuse["XksProxyUriPath"] = "/public/kms/xks/v1";
    CHECK(create(reuse).type() == "XksProxyUriEndpointInUseException");
    vpc["CustomKeyStoreName"] = "vpc-2";
    vpc["XksProxyUriEndpoint"] = "https://vpc2.example.com";
    CHECK(create(vpc).type() == "XksProxyVpcEndpointServiceInUseException");
    auto listed = kms.Call("DescribeCustomKeyStores",
                           "{\"CustomKeyStoreId\":\"" + made.str("CustomKeyStoreId") + "\"}");
    const auto& config = listed.json["CustomKeyStores"][0]["XksProxyConfiguration"];
    CHECK(S(config["Connectivity"]) == "VPC_ENDPOINT_SERVICE");
    CHECK(S(config["VpcEndpointServiceOwner"]) == "111122223333");

    // Update: the endpoint only while DISCONNECTED; a new connectivity needs a new endpoint.
    const std::string id = made.str("CustomKeyStoreId");
    CHECK(kms.Call("UpdateCustomKeyStore", "{\"CustomKeyStoreId\":\"" + id +
                                               "\",\"XksProxyConnectivity\":\"PUBLIC_ENDPOINT\"}")
              .message() == "A new XksProxyConnectivity requires a new XksProxyUriEndpoint.");
    kms.Connect(id);
    REQUIRE(kms.State(id) == "CONNECTED");
    CHECK(kms.Call("UpdateCustomKeyStore",
                   "{\"CustomKeyStoreId\":\"" + id +
                       "\",\"XksProxyUriEndpoint\":\"https://x.example.com\"}")
              .type() == "CustomKeyStoreInvalidStateException");
    // A new path while connected is checked with the proxy, and kept only if it answers.
    auto moved =
        kms.Call("UpdateCustomKeyStore",
                 "{\"CustomKeyStoreId\":\"" + id + "\",\"XksProxyUriPath\":\"/other/kms/xks/v1\"}");
    CHECK(moved.type() == "XksProxyInvalidConfigurationException");
    CHECK(kms.Call("DeleteCustomKeyStore", "{\"CustomKeyStoreId\":\"" + id + "\"}").type() ==
          "CustomKeyStoreInvalidStateException");
}

TEST_CASE("an external key store connects when its proxy is healthy", "[api][xks]") {
    XksKms kms;
    const std::string id = kms.CreateStore();
    kms.proxy.network = Failure::kTimeout;
    kms.Connect(id);
    CHECK(kms.State(id) == "FAILED XKS_PROXY_TIMED_OUT");
    CHECK(kms.Call("ConnectCustomKeyStore", "{\"CustomKeyStoreId\":\"" + id + "\"}").type() ==
          "CustomKeyStoreInvalidStateException");
    REQUIRE(kms.Call("DisconnectCustomKeyStore", "{\"CustomKeyStoreId\":\"" + id + "\"}").status ==
            200);
    kms.proxy.network = Failure::kUnreachable;
    kms.Connect(id);
    CHECK(kms.State(id) == "FAILED XKS_PROXY_NOT_REACHABLE");
    REQUIRE(kms.Call("DisconnectCustomKeyStore", "{\"CustomKeyStoreId\":\"" + id + "\"}").status ==
            200);
    kms.proxy.network = Failure::kNone;
    kms.Connect(id);
    CHECK(kms.State(id) == "CONNECTED");
}

TEST_CASE("keys in an external key store encrypt twice: kmsd's layer, then the proxy's",
          "[api][xks]") {
    XksKms kms;
    const std::string store = kms.CreateStore();
    kms.Connect(store);
    CHECK(kms.XksKey(store, "nope").type() == "XksKeyNotFoundException");
    CHECK(kms.XksKey(store, "off").message() ==
          "The status of the external key must be ENABLED. The status of specified external key "
          "is DISABLED.");
    auto created = kms.XksKey(store, "k1");
    REQUIRE(created.status == 200);
    const auto& meta = created.json["KeyMetadata"];
    CHECK(S(meta["Origin"]) == "EXTERNAL_KEY_STORE");
    CHECK(S(meta["XksKeyConfiguration"]["Id"]) == "k1");
    CHECK(S(meta["CustomKeyStoreId"]) == store);
    CHECK_FALSE(meta.contains("CloudHsmClusterId"));
    CHECK(kms.XksKey(store, "k1").type() == "XksKeyAlreadyInUseException");
    const std::string key = S(meta["KeyId"]);

    auto enc = kms.Call("Encrypt", "{\"KeyId\":\"" + key +
                                       "\",\"Plaintext\":\"c2VjcmV0\","
                                       "\"EncryptionContext\":{\"a\":\"b\"}}");
    REQUIRE(enc.status == 200);
    const std::string blob_b64 = enc.str("CiphertextBlob");
    const SecureBytes blob = *Base64Decode(blob_b64);
    // The blob is the external key store envelope, naming the key's material.
    REQUIRE(hsm::IsXksEnvelope(blob));
    CHECK(hsm::Hsm::BlobMaterialId(blob).value() ==
          kms.catalog->FindKey({"111122223333", "us-east-1", key})->current_material_id());
    // What the proxy encrypted was kmsd's own blob, not the plaintext.
    CHECK(kms.proxy.calls.back().first == "/kms/xks/v1/keys/k1/encrypt");
    CHECK(kms.proxy.calls.back().second.find("c2VjcmV0") == std::string::npos);

    auto dec = kms.Call(
        "Decrypt", "{\"CiphertextBlob\":\"" + blob_b64 + "\",\"EncryptionContext\":{\"a\":\"b\"}}");
    REQUIRE(dec.status == 200);
    CHECK(dec.str("Plaintext") == "c2VjcmV0");
    CHECK(kms.proxy.calls.back().first == "/kms/xks/v1/keys/k1/decrypt");

    // A changed header byte (the proxy's AAD) or ciphertext: the proxy refuses.
    SecureBytes tampered = blob;
    tampered.back() ^= 1;
    auto bad = kms.Call("Decrypt", "{\"CiphertextBlob\":\"" + std::string(Base64Encode(tampered)) +
                                       "\",\"EncryptionContext\":{\"a\":\"b\"}}");
    CHECK(bad.type() == "KMSInvalidStateException");
    CHECK(bad.message() ==
          "The external key store proxy rejected the request because the specified ciphertext or "
          "additional authenticated data is corrupted, missing, or otherwise invalid.");
    // The wrong context: the proxy's layer opens, kmsd's does not.
    CHECK(kms.Call("Decrypt", "{\"CiphertextBlob\":\"" + blob_b64 + "\"}").type() ==
          "KMSInvalidStateException");

    // The network fails: AWS's text for each cause, as KMSInvalidStateException.
    kms.proxy.network = Failure::kTimeout;
    auto slow = kms.Call(
        "Decrypt", "{\"CiphertextBlob\":\"" + blob_b64 + "\",\"EncryptionContext\":{\"a\":\"b\"}}");
    CHECK(slow.type() == "KMSInvalidStateException");
    CHECK(slow.message().rfind("AWS KMS rejected the request because the external key store proxy "
                               "did not respond in time.",
                               0) == 0);
    kms.proxy.network = Failure::kNone;

    // Data keys and re-encryption to and from an ordinary key.
    auto dk = kms.Call("GenerateDataKey", "{\"KeyId\":\"" + key + "\",\"NumberOfBytes\":32}");
    REQUIRE(dk.status == 200);
    auto again = kms.Call("Decrypt", "{\"CiphertextBlob\":\"" + dk.str("CiphertextBlob") + "\"}");
    CHECK(again.str("Plaintext") == dk.str("Plaintext"));
    const std::string plain = kms.NewKey();
    auto moved = kms.Call("ReEncrypt", "{\"CiphertextBlob\":\"" + dk.str("CiphertextBlob") +
                                           "\",\"DestinationKeyId\":\"" + plain + "\"}");
    REQUIRE(moved.status == 200);
    auto back = kms.Call("ReEncrypt", "{\"CiphertextBlob\":\"" + moved.str("CiphertextBlob") +
                                          "\",\"DestinationKeyId\":\"" + key + "\"}");
    REQUIRE(back.status == 200);
    CHECK(kms.Call("Decrypt", "{\"CiphertextBlob\":\"" + back.str("CiphertextBlob") + "\"}")
              .str("Plaintext") == dk.str("Plaintext"));

    // The largest plaintext (4096 bytes) fits the proxy's 4300 after kmsd's inner layer.
    const std::string big = Base64Encode(Bytes(4096, 0x61));
    auto large = kms.Call("Encrypt", "{\"KeyId\":\"" + key + "\",\"Plaintext\":\"" + big + "\"}");
    REQUIRE(large.status == 200);
    CHECK(kms.Call("Decrypt", "{\"CiphertextBlob\":\"" + large.str("CiphertextBlob") + "\"}")
              .str("Plaintext") == big);

    // Not for an external key store.
    CHECK(kms.Call("GenerateRandom", "{\"NumberOfBytes\":8,\"CustomKeyStoreId\":\"" + store + "\"}")
              .type() == "UnsupportedOperationException");
    CHECK(kms.Call("EnableKeyRotation", "{\"KeyId\":\"" + key + "\"}").type() ==
          "UnsupportedOperationException");

    // Disconnected: the key is Unavailable, and nothing reaches the proxy.
    REQUIRE(
        kms.Call("DisconnectCustomKeyStore", "{\"CustomKeyStoreId\":\"" + store + "\"}").status ==
        200);
    const std::size_t calls = kms.proxy.calls.size();
    auto off = kms.Call("Encrypt", "{\"KeyId\":\"" + key + "\",\"Plaintext\":\"c2VjcmV0\"}");
    CHECK(off.type() == "KMSInvalidStateException");
    CHECK(kms.proxy.calls.size() == calls);
}

TEST_CASE("an external key is in use while a KMS key uses it, and free once that key is deleted",
          "[api][xks]") {
    XksKms kms;
    const std::string store = kms.CreateStore();
    kms.Connect(store);
    auto first = kms.XksKey(store, "k1");
    REQUIRE(first.status == 200);
    const std::string key = S(first.json["KeyMetadata"]["KeyId"]);
    auto again = kms.XksKey(store, "k1");
    CHECK(again.message() == "The external key k1 is already associated with " +
                                 S(first.json["KeyMetadata"]["Arn"]) + " in custom key store " +
                                 store + ".");
    CHECK(kms.XksKey(store, "k2").status == 200);
    // Pending deletion still holds it; once the key is gone, a new key may take it.
    REQUIRE(kms.Call("ScheduleKeyDeletion", "{\"KeyId\":\"" + key + "\",\"PendingWindowInDays\":7}")
                .status == 200);
    CHECK(kms.XksKey(store, "k1").type() == "XksKeyAlreadyInUseException");
    REQUIRE(api::RunDue(kms.services, kms.clock.Now() + 8 * 86400).ok());
    REQUIRE_FALSE(kms.catalog->FindKey({"111122223333", "us-east-1", key}));
    CHECK(kms.XksKey(store, "k1").status == 200);
    CHECK(kms.XksKey(store, "k2").type() == "XksKeyAlreadyInUseException");
}

TEST_CASE("the XKS envelope parser takes only what the builder writes", "[hsm][xks]") {
    hsm::XksEnvelope e;
    for (std::size_t i = 0; i < e.material_id.size(); ++i)
        e.material_id[i] = static_cast<std::uint8_t>(i);
    e.metadata = {1, 2, 3};
    e.iv = Bytes(12, 4);
    e.tag = Bytes(16, 5);
    e.ciphertext = Bytes(10, 6);
    const Bytes blob = hsm::BuildXksEnvelope(e);
    auto parsed = hsm::ParseXksEnvelope(blob);
    REQUIRE(parsed.ok());
    CHECK(parsed->metadata == e.metadata);
    CHECK(parsed->ciphertext == e.ciphertext);
    // Every truncation fails; so does a metadata length over 20 or an IV of another size.
    for (std::size_t n = 0; n < blob.size(); ++n)
        CHECK_FALSE(hsm::ParseXksEnvelope(ByteView(blob.data(), n)).ok());
    Bytes long_metadata = blob;
    long_metadata[37] = 21;
    CHECK_FALSE(hsm::ParseXksEnvelope(long_metadata).ok());
    Bytes odd_iv = blob;
    odd_iv[37 + 1 + 3] = 13;
    CHECK_FALSE(hsm::ParseXksEnvelope(odd_iv).ok());
}

TEST_CASE("kmsd xks-proxy refuses what the specification says it must", "[xks]") {
    InProcessProxy proxy;
    api::xks::Endpoint endpoint{"https://xks.example.com", "/kms/xks/v1", kAccessKeyId, kSecret,
                                "us-east-1"};
    const auto send = [&](const std::string& method, const std::string& target,
                          const std::string& body, double skew = 0) {
        const std::string date = xks::AmzDateNow();
        const std::vector<std::pair<std::string, std::string>> headers = {
            {"Host", "xks.example.com"},
            {"X-Amz-Date", date},
            {"Authorization",
             xks::XksAuthorization(endpoint, "xks.example.com", target, date, body)}};
        return proxy.core.Handle(method, target, headers, body,
                                 static_cast<double>(std::time(nullptr)) + skew);
    };
    const std::string health = R"({"requestMetadata":{"kmsOperation":"x","kmsRequestId":"r"}})";
    CHECK(send("POST", "/kms/xks/v1/health", health).status == 200);
    CHECK(send("GET", "/kms/xks/v1/health", health).status == 405);
    CHECK(send("POST", "/other/kms/xks/v1/health", health).body ==
          R"({"errorName":"InvalidUriPathException"})");
    CHECK(send("POST", "/kms/xks/v1/health", health, 301).status == 401);  // 5 minutes off
    CHECK(send("POST", "/kms/xks/v1/health", "{}").body ==
          R"({"errorName":"ValidationException"})");
    endpoint.secret = "wrong";
    CHECK(send("POST", "/kms/xks/v1/health", health).status == 401);
    endpoint.secret = kSecret;
    endpoint.access_key_id = "ABCDEFGHIJKLMNOPQRSZ";
    CHECK(send("POST", "/kms/xks/v1/health", health).status == 401);
}

TEST_CASE("only requests that may reach a proxy leave the serving threads", "[server][xks]") {
    auto app = testing::OpenInMemoryApp();
    const auto leaves = [&](const std::string& op, const std::string& body) {
        Request req = testing::ParseHttpRequest(testing::KmsRequestBytes(op, body));
        return MayWaitOnProxy(*app, req);
    };
    const std::string xks_id = "11111111-2222-3333-4444-555555555555";
    const std::string plain_id = "66666666-7777-8888-9999-000000000000";
    // Without external key stores, only the store operations that reach a proxy.
    CHECK(leaves("CreateCustomKeyStore", "{}"));
    CHECK(leaves("UpdateCustomKeyStore", "{}"));
    CHECK_FALSE(leaves("Encrypt", "{\"KeyId\":\"" + xks_id + "\"}"));
    CHECK_FALSE(leaves("CreateKey", "{\"Origin\":\"EXTERNAL_KEY_STORE\"}"));

    auto store = std::make_shared<storage::CustomKeyStoreRecord>();
    store->store_id = "cks-1234567890abcdef0";
    store->account = "111122223333";
    store->region = "us-east-1";
    store->name = "x";
    store->type = "EXTERNAL_KEY_STORE";
    auto key = std::make_shared<storage::KeyRecord>();
    key->account = "111122223333";
    key->region = "us-east-1";
    key->key_id = xks_id;
    key->arn = "arn:aws:kms:us-east-1:111122223333:key/" + xks_id;
    key->key_spec = "SYMMETRIC_DEFAULT";
    key->key_usage = "ENCRYPT_DECRYPT";
    key->origin = "EXTERNAL_KEY_STORE";
    key->custom_key_store_id = store->store_id;
    key->xks_key_id = "k1";
    REQUIRE(app->services()
                .catalog
                .Write([&]() -> Result<storage::Change> {
                    storage::Change change;
                    change.put_stores.push_back(store);
                    change.put_keys.push_back(key);
                    return change;
                })
                .ok());
    CHECK(leaves("Encrypt", "{\"KeyId\":\"" + xks_id + "\"}"));
    CHECK(leaves("Encrypt", "{ \"KeyId\" :  \"" + key->arn + "\"}"));
    CHECK(leaves("GenerateDataKey", "{\"KeyId\":\"alias/anything\"}"));  // not resolved there
    CHECK_FALSE(leaves("Encrypt", "{\"KeyId\":\"" + plain_id + "\"}"));
    CHECK_FALSE(leaves("DescribeKey", "{\"KeyId\":\"" + xks_id + "\"}"));
    CHECK(leaves("ReEncrypt",
                 "{\"CiphertextBlob\":\"AQIC\",\"DestinationKeyId\":\"" + xks_id + "\"}"));
    // A ciphertext's third byte: 05 for an external key's envelope ("AQIF"), 02 otherwise.
    CHECK(leaves("Decrypt", "{\"CiphertextBlob\":\"AQIFAHg=\"}"));
    CHECK_FALSE(leaves("Decrypt", "{\"CiphertextBlob\":\"AQICAHg=\"}"));
    CHECK(leaves("CreateKey", "{\"Origin\":\"EXTERNAL_KEY_STORE\"}"));
    CHECK_FALSE(leaves("CreateKey", "{}"));
    // A member that is not a plain string: assume the worst.
    CHECK(leaves("Encrypt", "{\"KeyId\":\"a\\u0062c\"}"));
    Request clock = testing::ParseHttpRequest(
        "POST /_kmsd/clock?x=1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}");
    CHECK(MayWaitOnProxy(*app, clock));
}
