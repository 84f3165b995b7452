//! A device's home folder: the passphrase-sealed key file `identity.age`
//! and the sled store in `store/`. Nothing else is written there.

use crate::error::EngineError;
use circlekeep_seal::{DeviceIdentity, SecretString};
use circlekeep_store::{SledStore, SledStoreError};
use std::io::Write;
use std::path::{Path, PathBuf};

const IDENTITY_FILE: &str = "identity.age";
const STORE_DIR: &str = "store";

/// Where one device keeps its Circlekeep data.
#[derive(Clone, Debug)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// A home at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The platform's default home (e.g. `~/.local/share/circlekeep`).
    pub fn platform_default() -> Option<Self> {
        directories::ProjectDirs::from("org", "Circlekeep", "circlekeep")
            .map(|dirs| Self::new(dirs.data_dir()))
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a process holding this data folder listens to others on this
    /// computer (`file`: what it serves): that file in the folder on Unix
    /// (the folder's permissions guard it), a named pipe named after the
    /// folder and `file` on Windows.
    pub fn local_socket(
        &self,
        file: &str,
    ) -> std::io::Result<interprocess::local_socket::Name<'static>> {
        use interprocess::local_socket::prelude::*;
        #[cfg(unix)]
        {
            use interprocess::local_socket::GenericFilePath;
            self.root.join(file).to_fs_name::<GenericFilePath>()
        }
        #[cfg(not(unix))]
        {
            use interprocess::local_socket::GenericNamespaced;
            let folder = blake3::hash(self.root.as_os_str().as_encoded_bytes());
            format!("circlekeep-{}-{file}", &folder.to_hex()[..32])
                .to_ns_name::<GenericNamespaced>()
        }
    }

    /// The key file.
    pub fn identity_file(&self) -> PathBuf {
        self.root.join(IDENTITY_FILE)
    }

    /// Whether an identity exists here.
    pub fn is_initialized(&self) -> bool {
        self.identity_file().exists()
    }

    fn io(&self, path: &Path) -> impl Fn(std::io::Error) -> EngineError + '_ {
        let path = path.to_owned();
        move |source| EngineError::Io {
            path: path.clone(),
            source,
        }
    }

    /// Makes a new identity (a new member's, or a new device of `member`'s)
    /// and writes its key file (atomically, owner-only).
    pub(crate) fn create_identity(
        &self,
        name: &str,
        passphrase: &SecretString,
        work_factor: u8,
        member: Option<circlekeep_model::MemberId>,
    ) -> Result<DeviceIdentity, EngineError> {
        if self.is_initialized() {
            return Err(EngineError::AlreadyInitialized(self.root.clone()));
        }
        let mut me = DeviceIdentity::generate(name)?;
        if let Some(member) = member {
            me.become_device_of(member);
        }
        let sealed = me.to_key_file(passphrase, work_factor)?;
        self.write_key_file(&sealed)?;
        Ok(me)
    }

    /// Installs a saved key file (e.g. from a backup) into an empty home,
    /// after checking that `passphrase` opens it.
    pub fn install_key_file(
        &self,
        sealed: &[u8],
        passphrase: &SecretString,
    ) -> Result<DeviceIdentity, EngineError> {
        if self.is_initialized() {
            return Err(EngineError::AlreadyInitialized(self.root.clone()));
        }
        let me = DeviceIdentity::from_key_file(sealed, passphrase)?;
        self.write_key_file(sealed)?;
        Ok(me)
    }

    /// Seals the key file again under `new`, once `old` opens it. The
    /// file is replaced atomically: a crash leaves the old one or the new
    /// one. Copies saved earlier keep the old passphrase.
    pub fn change_passphrase(
        &self,
        old: &SecretString,
        new: &SecretString,
        work_factor: u8,
    ) -> Result<(), EngineError> {
        let me = self.open_identity(old)?;
        let sealed = me.to_key_file(new, work_factor)?;
        self.put_key_file(&sealed, true)
    }

    fn write_key_file(&self, sealed: &[u8]) -> Result<(), EngineError> {
        self.put_key_file(sealed, false)
    }

    /// Writes the key file through a temporary file; `replace` allows an
    /// existing one to be replaced, otherwise one that appeared meanwhile
    /// is never overwritten.
    fn put_key_file(&self, sealed: &[u8], replace: bool) -> Result<(), EngineError> {
        std::fs::create_dir_all(&self.root).map_err(self.io(&self.root))?;
        restrict(&self.root, 0o700).map_err(self.io(&self.root))?;
        let path = self.identity_file();
        let mut file = tempfile::NamedTempFile::new_in(&self.root).map_err(self.io(&self.root))?;
        restrict(file.path(), 0o600).map_err(self.io(&path))?;
        file.write_all(sealed).map_err(self.io(&path))?;
        file.as_file().sync_all().map_err(self.io(&path))?;
        let persisted = if replace {
            file.persist(&path)
        } else {
            // Never replace an identity that appeared meanwhile.
            file.persist_noclobber(&path)
        };
        persisted.map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                EngineError::AlreadyInitialized(self.root.clone())
            } else {
                EngineError::Io {
                    path: path.clone(),
                    source: e.error,
                }
            }
        })?;
        if let Ok(dir) = std::fs::File::open(&self.root) {
            // Make the rename itself durable; best effort on platforms without it.
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// The key file's bytes (sealed with the passphrase), e.g. to save a
    /// copy or put it in a backup.
    pub fn key_file(&self) -> Result<Vec<u8>, EngineError> {
        let path = self.identity_file();
        std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => EngineError::NotInitialized(self.root.clone()),
            _ => self.io(&path)(e),
        })
    }

    /// Opens the key file with `passphrase`.
    pub(crate) fn open_identity(
        &self,
        passphrase: &SecretString,
    ) -> Result<DeviceIdentity, EngineError> {
        Ok(DeviceIdentity::from_key_file(
            &self.key_file()?,
            passphrase,
        )?)
    }

    /// Opens the store.
    pub(crate) fn open_store(&self) -> Result<SledStore, EngineError> {
        let dir = self.root.join(STORE_DIR);
        SledStore::open(&dir).map_err(|e| match e {
            SledStoreError::Locked => EngineError::StoreLocked,
            other => EngineError::store(other),
        })
    }
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}
