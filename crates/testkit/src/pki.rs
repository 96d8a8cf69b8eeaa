//! A throwaway certificate authority for federation tests: servers get certificates it
//! signs, and trust it as their only anchor.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use std::path::{Path, PathBuf};

pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    dir: PathBuf,
}

impl TestCa {
    /// A new CA; its files live in a fresh temporary directory.
    pub fn new() -> Self {
        let mut b = [0u8; 6];
        rand::fill(&mut b[..]);
        let dir =
            std::env::temp_dir().join(format!("rhein-ca-{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, "Rhein test CA");
        let issuer =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA certificate");
        std::fs::write(dir.join("ca.pem"), issuer.pem()).expect("write CA");
        Self { issuer, dir }
    }

    /// The PEM file to trust.
    pub fn anchors(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A certificate for `names` signed by this CA: (certificate path, key path).
    pub fn issue(&self, names: &[&str]) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().expect("key");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let cert = CertificateParams::new(names.clone()).expect("params").signed_by(&key, &self.issuer).expect("sign");
        let stem = names.join("+");
        let (cert_path, key_path) = (self.dir.join(format!("{stem}.crt")), self.dir.join(format!("{stem}.key")));
        write(&cert_path, &cert.pem());
        write(&key_path, &key.serialize_pem());
        (cert_path, key_path)
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn write(path: &Path, data: &str) {
    std::fs::write(path, data).expect("write certificate");
}
