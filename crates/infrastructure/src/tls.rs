//! TLS set-up. The dependency tree compiles two rustls crypto providers (ring, through sqlx and
//! lettre; aws-lc-rs, through object_store and reqwest), and rustls refuses to guess between them:
//! without a process-wide default, the first TLS connection (PostgreSQL with TLS, SMTP, S3, a model
//! provider, a Qdrant server) would panic. Every entry point that may open one calls [`init`].

/// Installs ring as the process-wide rustls crypto provider, once; later calls do nothing.
pub fn init() {
    // An error only means a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    #[test]
    fn tls_clients_can_be_built_after_init() {
        super::init();
        super::init();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
        // Panics when the default provider is ambiguous.
        let roots = rustls::RootCertStore::empty();
        let _config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
    }
}
