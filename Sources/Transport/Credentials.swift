import CGRPC

/// The one place gRPC core credentials are made: insecure for plaintext, SSL (gRPC core's own,
/// over the system OpenSSL) otherwise. The caller releases what it gets once the port is added or
/// the channel created (core keeps its own reference).
enum Credentials {
    /// grpc_server_credentials* for `grpc_server_add_http2_port`.
    static func server(_ tls: ServerTLS?) -> OpaquePointer {
        guard let tls else { return grpc_insecure_server_credentials_create() }
        return tls.privateKey.withCString { key in
            tls.certificateChain.withCString { chain in
                withOptionalCString(tls.clientCA) { clientCA in
                    var pair = grpc_ssl_pem_key_cert_pair(private_key: key, cert_chain: chain)
                    // The config copies the strings.
                    let config = grpc_ssl_server_certificate_config_create(clientCA, &pair, 1)
                    // Mutual TLS: a client without a certificate that chains to clientCA fails the handshake.
                    let request = clientCA == nil ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                        : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                    let options = grpc_ssl_server_credentials_create_options_using_config(request, config)  // takes the config
                    return grpc_ssl_server_credentials_create_with_options(options)!  // takes the options
                }
            }
        }
    }

    /// grpc_channel_credentials* for `grpc_channel_create`: the server's certificate must chain to
    /// `trustedCA` and name the target's host (DNS or IP subject alternative name).
    static func channel(_ tls: ClientTLS?) -> OpaquePointer {
        guard let tls else { return grpc_insecure_credentials_create() }
        return tls.trustedCA.withCString { ca in
            withOptionalCString(tls.privateKey) { key in
                withOptionalCString(tls.certificateChain) { chain in
                    guard let key, let chain else { return grpc_ssl_credentials_create_ex(ca, nil, nil, nil)! }
                    var pair = grpc_ssl_pem_key_cert_pair(private_key: key, cert_chain: chain)
                    return grpc_ssl_credentials_create_ex(ca, &pair, nil, nil)!
                }
            }
        }
    }

    private static func withOptionalCString<R>(_ text: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
        guard let text else { return body(nil) }
        return text.withCString { body($0) }
    }
}
