// Custom key stores of type AWS_CLOUDHSM (kms-reference §9; README: Custom key stores), against
// simulated CloudHSM clusters that the admin endpoint or the seed file declares: kmsd cannot see
// real clusters, so a test states what its cluster is like (ID, trust anchor, kmsuser password,
// HSMs, state) and kmsd checks CreateCustomKeyStore, UpdateCustomKeyStore and
// ConnectCustomKeyStore against it as AWS checks them against the real one.
// Connecting takes kConnectSeconds of KMS time: CONNECTING, then CONNECTED or FAILED with the
// ConnectionErrorCode the cluster gives, when the scheduler (or a clock advance) gets there.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "api/context.h"
#include "common/status.h"
#include "storage/catalog.h"

namespace kmsd::api {

inline constexpr double kConnectSeconds = 2.0;

// What kmsd keeps of a kmsuser password: enough to tell whether a store's password is the
// cluster's (a test credential, compared, never shown).
std::string PasswordDigest(std::string_view password);

// Ends the CONNECTING of every store due by `up_to`. Returns how many it ended.
Result<int> FinishConnections(const Services& services, double up_to);

// Declares a simulated CloudHSM cluster, or replaces the one with its ID:
//   {"ClusterId": "cluster-...", "KmsUserPassword": "...", "Account": default_account,
//    "Region": default_region, "TrustAnchorCertificate": PEM (generated when absent),
//    "HsmCount": 2, "State": "ACTIVE", "BackupOf": "cluster-..." (a related cluster),
//    "ConnectionErrorCode": "" (what every connection to it fails with)}
// kValidation, saying which member is wrong. Returns the cluster as ClusterJson shows it.
Result<nlohmann::ordered_json> DeclareCluster(const Services& services, const nlohmann::json& spec,
                                              const std::string& default_account,
                                              const std::string& default_region);

// A cluster as the admin endpoint lists it (never its password).
nlohmann::ordered_json ClusterJson(const storage::CloudHsmClusterRecord& cluster);

// ---- External key stores (EXTERNAL_KEY_STORE) ----
// kmsd is an XKS client (api/xks.h): the store's settings say where its proxy is and as whom
// kmsd signs; the secret is kept sealed by the HSM and never shown.
struct XksConfig {
    std::string connectivity;  // PUBLIC_ENDPOINT or VPC_ENDPOINT_SERVICE
    std::string uri_endpoint;
    std::string uri_path;
    std::string access_key_id;
    std::string sealed_secret;  // base64 of Hsm::SealSecret(store ID, RawSecretAccessKey)
    std::string vpc_service_name;
    std::string vpc_service_owner;
};
// CustomKeyStoreRecord::config and back (a bad or empty text gives an empty config).
XksConfig ParseXksConfig(const std::string& json);
std::string XksConfigJson(const XksConfig& config);

// Where and as whom to reach `config`'s proxy for `store` (the HSM unseals the secret).
Result<xks::Endpoint> ProxyEndpoint(const Services& services,
                                    const storage::CustomKeyStoreRecord& store,
                                    const XksConfig& config);

// One call to a proxy: kNone and the answer, or why there is none.
struct ProxyAnswer {
    int status = 0;
    std::string body;
    xks::Answer view() const { return {status, body}; }
};
xks::Failure CallProxy(const Services& services, const xks::Endpoint& endpoint,
                       std::string_view path, const SecureString& body, ProxyAnswer& answer);

// GetHealthStatus for `operation` (CreateCustomKeyStore, UpdateCustomKeyStore,
// ConnectCustomKeyStore, KmsHealthCheck).
xks::Failure CheckProxyHealth(const Services& services, const xks::Endpoint& endpoint,
                              const std::string& operation, const std::string& request_id);

}  // namespace kmsd::api
