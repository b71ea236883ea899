//! Resource addresses, as plans show them and `--target` takes them:
//! `virtual_server.web`, `module.api.virtual_server.web["x"].real_server.a`,
//! `virtual_server["tcp/203.0.113.10:80"]` (a live service no configuration declares),
//! `host["10.1.0.11"]`, `director`.

use crate::model::{DestinationKey, ServiceKey};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Address(String);

impl Address {
    pub fn director() -> Address {
        Address("director".into())
    }

    /// lvsform's keepalived file on a director.
    pub fn keepalived() -> Address {
        Address("keepalived".into())
    }

    pub fn host(name: &str) -> Address {
        Address(format!("host[\"{name}\"]"))
    }

    /// A live service that no configuration declares, named by its identity.
    pub fn undeclared_service(key: &ServiceKey) -> Address {
        Address(format!("virtual_server[\"{key}\"]"))
    }

    /// A declared block: `kind.name`, and `["key"]` for an instance of a `for_each`, inside
    /// `parent` (the root module when `None`).
    pub fn block(parent: Option<&Address>, kind: &str, name: &str, key: Option<&str>) -> Address {
        let mut address = parent.map_or_else(String::new, |p| format!("{p}."));
        address.push_str(&format!("{kind}.{name}"));
        if let Some(key) = key {
            address.push_str(&format!("[\"{}\"]", key.escape_default()));
        }
        Address(address)
    }

    /// A live real server of this service that its declaration does not hold.
    pub fn undeclared_real_server(&self, key: &DestinationKey) -> Address {
        Address(format!("{self}.real_server[\"{key}\"]"))
    }

    /// This address in named director `name`: `director["lb1"]` for the director,
    /// `director["lb1"].virtual_server.web` for its services.
    pub fn in_director(&self, name: &str) -> Address {
        let director = format!("director[\"{name}\"]");
        if self.0 == "director" {
            Address(director)
        } else {
            Address(format!("{director}.{self}"))
        }
    }

    /// The address without its `director["NAME"].` (itself when it has none).
    pub fn outside_director(&self) -> Address {
        self.0
            .strip_prefix("director[\"")
            .and_then(|rest| rest.split_once("\"]."))
            .map_or_else(|| self.clone(), |(_, inner)| Address(inner.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this address is `outer` or inside it (`virtual_server.web` holds
    /// `virtual_server.web.real_server.a` and `virtual_server.web["x"]`).
    pub fn is_within(&self, outer: &Address) -> bool {
        self.0 == outer.0
            || self
                .0
                .strip_prefix(&outer.0)
                .is_some_and(|rest| rest.starts_with(['.', '[']))
    }
}

/// A `--target` as the user wrote it.
impl From<&str> for Address {
    fn from(text: &str) -> Address {
        Address(text.to_string())
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_within_itself_and_its_ancestors_only() {
        let web = Address::block(None, "virtual_server", "web", None);
        let a = Address::block(Some(&web), "real_server", "a", None);
        let instance = Address::block(None, "virtual_server", "web", Some("x"));
        assert_eq!(a.as_str(), "virtual_server.web.real_server.a");
        assert_eq!(instance.as_str(), "virtual_server.web[\"x\"]");
        assert!(web.is_within(&web));
        assert!(a.is_within(&web));
        assert!(instance.is_within(&web));
        assert!(!web.is_within(&a));
        let web2 = Address::block(None, "virtual_server", "web2", None);
        assert!(!web2.is_within(&web));
        let module = Address::block(None, "module", "api", None);
        let inner = Address::block(Some(&module), "virtual_server", "web", None);
        assert_eq!(inner.as_str(), "module.api.virtual_server.web");
        assert!(!inner.is_within(&web));
        let in_lb1 = a.in_director("lb1");
        assert_eq!(
            in_lb1.as_str(),
            "director[\"lb1\"].virtual_server.web.real_server.a"
        );
        assert_eq!(in_lb1.outside_director(), a);
        assert_eq!(
            Address::director().in_director("lb1").as_str(),
            "director[\"lb1\"]"
        );
        assert_eq!(web.outside_director(), web);
    }
}
