// [api][key-stores]: CloudHSM custom key stores against simulated clusters: the cluster
// declaration's checks, the connection on the KMS clock, keys sealed in the store's own HSM
// partition, and what a disconnected store does to its keys.
#include "api/key_stores.h"

#include <catch2/catch.hpp>

#include "api/lifecycle.h"
#include "api/ops/common.h"
#include "support/fakes.h"

using namespace kmsd;
using kmsd::testing::TestKms;

namespace {

constexpr char kCluster[] = "cluster-abcdefghijk";
constexpr char kPassword[] = "kmsPswd1";

using kmsd::testing::S;

nlohmann::ordered_json Declare(TestKms& kms, nlohmann::json spec) {
    auto out = api::DeclareCluster(kms.services, spec, "111122223333", "us-east-1");
    REQUIRE(out.ok());
    return *out;
}

// A connected store on kCluster; returns its ID.
std::string ConnectedStore(TestKms& kms) {
    auto cluster = Declare(kms, {{"ClusterId", kCluster}, {"KmsUserPassword", kPassword}});
    nlohmann::json create = {{"CustomKeyStoreName", "s"},
                             {"CloudHsmClusterId", kCluster},
                             {"TrustAnchorCertificate", cluster["TrustAnchorCertificate"]},
                             {"KeyStorePassword", kPassword}};
    auto r = kms.Call("CreateCustomKeyStore", create.dump());
    REQUIRE(r.status == 200);
    const std::string id = r.str("CustomKeyStoreId");
    REQUIRE(kms.Call("ConnectCustomKeyStore", "{\"CustomKeyStoreId\":\"" + id + "\"}").status ==
            200);
    return id;
}

std::string ConnectionState(TestKms& kms, const std::string& id) {
    auto r = kms.Call("DescribeCustomKeyStores", "{\"CustomKeyStoreId\":\"" + id + "\"}");
    return S(r.json["CustomKeyStores"][0]["ConnectionState"]);
}

}  // namespace

TEST_CASE("a store connects when its time comes on the KMS clock", "[api][key-stores]") {
    TestKms kms;
    const std::string id = ConnectedStore(kms);
    CHECK(ConnectionState(kms, id) == "CONNECTING");
    const double now = kms.clock.Now();
    CHECK(api::RunDue(kms.services, now + api::kConnectSeconds - 0.01).value().connections == 0);
    CHECK(ConnectionState(kms, id) == "CONNECTING");
    CHECK(api::RunDue(kms.services, now + api::kConnectSeconds + 0.01).value().connections == 1);
    CHECK(ConnectionState(kms, id) == "CONNECTED");
    CHECK(api::RunDue(kms.services, now + 10).value().connections == 0);
}

TEST_CASE("keys in a store are sealed in its own HSM partition", "[api][key-stores]") {
    TestKms kms;
    const std::string id = ConnectedStore(kms);
    REQUIRE(api::RunDue(kms.services, kms.clock.Now() + 5).value().connections == 1);
    auto created =
        kms.Call("CreateKey", "{\"CustomKeyStoreId\":\"" + id + "\",\"Origin\":\"AWS_CLOUDHSM\"}");
    REQUIRE(created.status == 200);
    const std::string key_id = S(created.json["KeyMetadata"]["KeyId"]);
    auto key = kms.catalog->FindKey({"111122223333", "us-east-1", key_id});
    REQUIRE(key);
    CHECK(key->custom_key_store_id == id);
    const Bytes pt = {1, 2, 3};
    hsm::KeyRef outside{key->arn, key->current_material_id(), key->key_spec};
    hsm::KeyRef other = api::ops::RefOf(*key);
    other.partition = api::ops::StorePartition("cks-00000000000000000");
    // The material serves only the store's partition: unsealed and cached for it first, then
    // from the sealed copy.
    REQUIRE(kms.hsm->Encrypt(api::ops::RefOf(*key), pt, {}).ok());
    for (bool cached : {true, false}) {
        INFO("cached " << cached);
        if (!cached) kms.hsm->EvictAll();
        CHECK_FALSE(kms.hsm->Encrypt(outside, pt, {}).ok());
        CHECK_FALSE(kms.hsm->Encrypt(other, pt, {}).ok());
    }
    auto blob = kms.hsm->Encrypt(api::ops::RefOf(*key), pt, {});
    REQUIRE(blob.ok());
    auto back = kms.hsm->Decrypt(api::ops::RefOf(*key), *blob, {});
    REQUIRE(back.ok());
    CHECK(Bytes(back->begin(), back->end()) == pt);
}

TEST_CASE("a disconnected store's keys are Unavailable, whatever their own state",
          "[api][key-stores]") {
    TestKms kms;
    const std::string id = ConnectedStore(kms);
    REQUIRE(api::RunDue(kms.services, kms.clock.Now() + 5).value().connections == 1);
    auto created =
        kms.Call("CreateKey", "{\"CustomKeyStoreId\":\"" + id + "\",\"Origin\":\"AWS_CLOUDHSM\"}");
    const std::string key_id = S(created.json["KeyMetadata"]["KeyId"]);
    const std::string enc = "{\"KeyId\":\"" + key_id + "\",\"Plaintext\":\"AQID\"}";
    REQUIRE(kms.Call("Encrypt", enc).status == 200);
    REQUIRE(kms.Call("DisconnectCustomKeyStore", "{\"CustomKeyStoreId\":\"" + id + "\"}").status ==
            200);
    auto state = [&] {
        return S(kms.Call("DescribeKey", "{\"KeyId\":\"" + key_id + "\"}")
                     .json["KeyMetadata"]["KeyState"]);
    };
    CHECK(state() == "Unavailable");
    CHECK(kms.Call("Encrypt", enc).type() == "KMSInvalidStateException");
    // Disabling succeeds and shows once the store is back; so does the old state.
    REQUIRE(kms.Call("DisableKey", "{\"KeyId\":\"" + key_id + "\"}").status == 200);
    CHECK(state() == "Unavailable");
    REQUIRE(kms.Call("ConnectCustomKeyStore", "{\"CustomKeyStoreId\":\"" + id + "\"}").status ==
            200);
    REQUIRE(api::RunDue(kms.services, kms.clock.Now() + 5).value().connections == 1);
    CHECK(state() == "Disabled");
    CHECK(kms.Call("Encrypt", enc).type() == "DisabledException");
}

TEST_CASE("cluster declarations are checked member by member", "[api][key-stores]") {
    TestKms kms;
    auto bad = [&](nlohmann::json spec) {
        auto out = api::DeclareCluster(kms.services, spec, "111122223333", "us-east-1");
        return out.ok() ? std::string() : out.status().message();
    };
    const nlohmann::json ok = {{"ClusterId", kCluster}, {"KmsUserPassword", kPassword}};
    CHECK(bad(ok).empty());
    for (const char* id : {"cluster-abc", "cluster-abcdefghij1", "cluster-abcdefghijklmnopq",
                           "clustr-abcdefghijk", ""}) {
        auto spec = ok;
        spec["ClusterId"] = id;
        INFO(id);
        CHECK(bad(spec).find("ClusterId") != std::string::npos);
    }
    auto spec = ok;
    spec["KmsUserPassword"] = "123456";
    CHECK(bad(spec).find("KmsUserPassword") != std::string::npos);
    spec = ok;
    spec["HsmCount"] = "3";  // a seed file's scalar
    CHECK(bad(spec).empty());
    spec["HsmCount"] = "300";
    CHECK(bad(spec).find("HsmCount") != std::string::npos);
    spec = ok;
    spec["Account"] = "12345";
    CHECK(bad(spec).find("Account") != std::string::npos);
    spec = ok;
    spec["Region"] = "US EAST";
    CHECK(bad(spec).find("Region") != std::string::npos);
    CHECK(bad(nlohmann::json::array()).find("object") != std::string::npos);
    // A trust anchor is PEM: printable ASCII only (it is shown again, as JSON).
    spec = ok;
    spec["TrustAnchorCertificate"] = "-----BEGIN CERTIFICATE-----\n\x01\n";
    CHECK(bad(spec).find("TrustAnchorCertificate") != std::string::npos);
    // The password is kept as a digest only.
    auto listed = api::ClusterJson(*kms.catalog->AllClusters().front());
    CHECK(listed.dump().find(kPassword) == std::string::npos);
    CHECK(api::PasswordDigest(kPassword) != api::PasswordDigest("kmsPswd2"));
    CHECK(api::PasswordDigest(kPassword).size() == 64);
}
