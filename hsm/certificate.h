// Self-signed certificates for simulated infrastructure: the trust anchor of a simulated
// CloudHSM cluster (what customerCA.crt is for a real one). Its private key is thrown away: only
// the certificate's text is ever compared.
#pragma once

#include <string>

#include "common/status.h"

namespace kmsd::hsm {

// A PEM certificate for `common_name` (EC P-256, SHA-256, valid for ten years from now).
Result<std::string> SelfSignedCertificatePem(const std::string& common_name);

}  // namespace kmsd::hsm
