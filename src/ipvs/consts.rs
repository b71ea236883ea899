//! Kernel constants, with their kernel names, as in `include/uapi/linux/ip_vs.h`,
//! `linux/netlink.h` and `linux/genetlink.h`. A test compiles a C program against the
//! installed headers and compares every value.
#![allow(dead_code)] // the complete sets are kept so that the header test covers them

// linux/netlink.h
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLM_F_REQUEST: u16 = 0x01;
pub const NLM_F_MULTI: u16 = 0x02;
pub const NLM_F_ACK: u16 = 0x04;
pub const NLM_F_DUMP: u16 = 0x300;
pub const NLA_F_NESTED: u16 = 0x8000;
pub const NLA_TYPE_MASK: u16 = 0x3fff;

// linux/genetlink.h
pub const GENL_ID_CTRL: u16 = 0x10;
pub const CTRL_CMD_GETFAMILY: u8 = 3;
pub const CTRL_ATTR_FAMILY_ID: u16 = 1;
pub const CTRL_ATTR_FAMILY_NAME: u16 = 2;

// linux/ip_vs.h
pub const IPVS_GENL_NAME: &str = "IPVS";
pub const IPVS_GENL_VERSION: u8 = 0x1;

pub const IP_VS_SVC_F_PERSISTENT: u32 = 0x0001;
pub const IP_VS_SVC_F_HASHED: u32 = 0x0002;
pub const IP_VS_SVC_F_ONEPACKET: u32 = 0x0004;
pub const IP_VS_SVC_F_SCHED1: u32 = 0x0008;
pub const IP_VS_SVC_F_SCHED2: u32 = 0x0010;
pub const IP_VS_SVC_F_SCHED3: u32 = 0x0020;

pub const IP_VS_STATE_NONE: u32 = 0;
pub const IP_VS_STATE_MASTER: u32 = 1;
pub const IP_VS_STATE_BACKUP: u32 = 2;

pub const IP_VS_CONN_F_FWD_MASK: u32 = 0x0007;
pub const IP_VS_CONN_F_MASQ: u32 = 0x0000;
pub const IP_VS_CONN_F_LOCALNODE: u32 = 0x0001;
pub const IP_VS_CONN_F_TUNNEL: u32 = 0x0002;
pub const IP_VS_CONN_F_DROUTE: u32 = 0x0003;
pub const IP_VS_CONN_F_BYPASS: u32 = 0x0004;

pub const IP_VS_CONN_F_TUNNEL_TYPE_IPIP: u8 = 0;
pub const IP_VS_CONN_F_TUNNEL_TYPE_GUE: u8 = 1;
pub const IP_VS_CONN_F_TUNNEL_TYPE_GRE: u8 = 2;
pub const IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM: u16 = 0;
pub const IP_VS_TUNNEL_ENCAP_FLAG_CSUM: u16 = 1 << 0;
pub const IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM: u16 = 1 << 1;

pub const IPVS_CMD_UNSPEC: u8 = 0;
pub const IPVS_CMD_NEW_SERVICE: u8 = 1;
pub const IPVS_CMD_SET_SERVICE: u8 = 2;
pub const IPVS_CMD_DEL_SERVICE: u8 = 3;
pub const IPVS_CMD_GET_SERVICE: u8 = 4;
pub const IPVS_CMD_NEW_DEST: u8 = 5;
pub const IPVS_CMD_SET_DEST: u8 = 6;
pub const IPVS_CMD_DEL_DEST: u8 = 7;
pub const IPVS_CMD_GET_DEST: u8 = 8;
pub const IPVS_CMD_NEW_DAEMON: u8 = 9;
pub const IPVS_CMD_DEL_DAEMON: u8 = 10;
pub const IPVS_CMD_GET_DAEMON: u8 = 11;
pub const IPVS_CMD_SET_CONFIG: u8 = 12;
pub const IPVS_CMD_GET_CONFIG: u8 = 13;
pub const IPVS_CMD_SET_INFO: u8 = 14;
pub const IPVS_CMD_GET_INFO: u8 = 15;
pub const IPVS_CMD_ZERO: u8 = 16;
pub const IPVS_CMD_FLUSH: u8 = 17;

pub const IPVS_CMD_ATTR_SERVICE: u16 = 1;
pub const IPVS_CMD_ATTR_DEST: u16 = 2;
pub const IPVS_CMD_ATTR_DAEMON: u16 = 3;
pub const IPVS_CMD_ATTR_TIMEOUT_TCP: u16 = 4;
pub const IPVS_CMD_ATTR_TIMEOUT_TCP_FIN: u16 = 5;
pub const IPVS_CMD_ATTR_TIMEOUT_UDP: u16 = 6;

pub const IPVS_SVC_ATTR_AF: u16 = 1;
pub const IPVS_SVC_ATTR_PROTOCOL: u16 = 2;
pub const IPVS_SVC_ATTR_ADDR: u16 = 3;
pub const IPVS_SVC_ATTR_PORT: u16 = 4;
pub const IPVS_SVC_ATTR_FWMARK: u16 = 5;
pub const IPVS_SVC_ATTR_SCHED_NAME: u16 = 6;
pub const IPVS_SVC_ATTR_FLAGS: u16 = 7;
pub const IPVS_SVC_ATTR_TIMEOUT: u16 = 8;
pub const IPVS_SVC_ATTR_NETMASK: u16 = 9;
pub const IPVS_SVC_ATTR_STATS: u16 = 10;
pub const IPVS_SVC_ATTR_PE_NAME: u16 = 11;
pub const IPVS_SVC_ATTR_STATS64: u16 = 12;

pub const IPVS_DEST_ATTR_ADDR: u16 = 1;
pub const IPVS_DEST_ATTR_PORT: u16 = 2;
pub const IPVS_DEST_ATTR_FWD_METHOD: u16 = 3;
pub const IPVS_DEST_ATTR_WEIGHT: u16 = 4;
pub const IPVS_DEST_ATTR_U_THRESH: u16 = 5;
pub const IPVS_DEST_ATTR_L_THRESH: u16 = 6;
pub const IPVS_DEST_ATTR_ACTIVE_CONNS: u16 = 7;
pub const IPVS_DEST_ATTR_INACT_CONNS: u16 = 8;
pub const IPVS_DEST_ATTR_PERSIST_CONNS: u16 = 9;
pub const IPVS_DEST_ATTR_STATS: u16 = 10;
pub const IPVS_DEST_ATTR_ADDR_FAMILY: u16 = 11;
pub const IPVS_DEST_ATTR_STATS64: u16 = 12;
pub const IPVS_DEST_ATTR_TUN_TYPE: u16 = 13;
pub const IPVS_DEST_ATTR_TUN_PORT: u16 = 14;
pub const IPVS_DEST_ATTR_TUN_FLAGS: u16 = 15;

pub const IPVS_DAEMON_ATTR_STATE: u16 = 1;
pub const IPVS_DAEMON_ATTR_MCAST_IFN: u16 = 2;
pub const IPVS_DAEMON_ATTR_SYNC_ID: u16 = 3;

pub const IPVS_STATS_ATTR_CONNS: u16 = 1;
pub const IPVS_STATS_ATTR_INPKTS: u16 = 2;
pub const IPVS_STATS_ATTR_OUTPKTS: u16 = 3;
pub const IPVS_STATS_ATTR_INBYTES: u16 = 4;
pub const IPVS_STATS_ATTR_OUTBYTES: u16 = 5;
pub const IPVS_STATS_ATTR_CPS: u16 = 6;
pub const IPVS_STATS_ATTR_INPPS: u16 = 7;
pub const IPVS_STATS_ATTR_OUTPPS: u16 = 8;
pub const IPVS_STATS_ATTR_INBPS: u16 = 9;
pub const IPVS_STATS_ATTR_OUTBPS: u16 = 10;

pub const IPVS_INFO_ATTR_VERSION: u16 = 1;
pub const IPVS_INFO_ATTR_CONN_TAB_SIZE: u16 = 2;

// linux/socket.h, linux/in.h
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;
pub const IPPROTO_TCP: u16 = 6;
pub const IPPROTO_UDP: u16 = 17;
pub const IPPROTO_SCTP: u16 = 132;

/// Every constant above by name, for the header test.
#[cfg(test)]
pub const ALL: &[(&str, i64)] = &[
    ("NLMSG_ERROR", NLMSG_ERROR as i64),
    ("NLMSG_DONE", NLMSG_DONE as i64),
    ("NLM_F_REQUEST", NLM_F_REQUEST as i64),
    ("NLM_F_MULTI", NLM_F_MULTI as i64),
    ("NLM_F_ACK", NLM_F_ACK as i64),
    ("NLM_F_DUMP", NLM_F_DUMP as i64),
    ("NLA_F_NESTED", NLA_F_NESTED as i64),
    ("NLA_TYPE_MASK", NLA_TYPE_MASK as i64),
    ("GENL_ID_CTRL", GENL_ID_CTRL as i64),
    ("CTRL_CMD_GETFAMILY", CTRL_CMD_GETFAMILY as i64),
    ("CTRL_ATTR_FAMILY_ID", CTRL_ATTR_FAMILY_ID as i64),
    ("CTRL_ATTR_FAMILY_NAME", CTRL_ATTR_FAMILY_NAME as i64),
    ("IPVS_GENL_VERSION", IPVS_GENL_VERSION as i64),
    ("IP_VS_SVC_F_PERSISTENT", IP_VS_SVC_F_PERSISTENT as i64),
    ("IP_VS_SVC_F_HASHED", IP_VS_SVC_F_HASHED as i64),
    ("IP_VS_SVC_F_ONEPACKET", IP_VS_SVC_F_ONEPACKET as i64),
    ("IP_VS_SVC_F_SCHED1", IP_VS_SVC_F_SCHED1 as i64),
    ("IP_VS_SVC_F_SCHED2", IP_VS_SVC_F_SCHED2 as i64),
    ("IP_VS_SVC_F_SCHED3", IP_VS_SVC_F_SCHED3 as i64),
    ("IP_VS_STATE_NONE", IP_VS_STATE_NONE as i64),
    ("IP_VS_STATE_MASTER", IP_VS_STATE_MASTER as i64),
    ("IP_VS_STATE_BACKUP", IP_VS_STATE_BACKUP as i64),
    ("IP_VS_CONN_F_FWD_MASK", IP_VS_CONN_F_FWD_MASK as i64),
    ("IP_VS_CONN_F_MASQ", IP_VS_CONN_F_MASQ as i64),
    ("IP_VS_CONN_F_LOCALNODE", IP_VS_CONN_F_LOCALNODE as i64),
    ("IP_VS_CONN_F_TUNNEL", IP_VS_CONN_F_TUNNEL as i64),
    ("IP_VS_CONN_F_DROUTE", IP_VS_CONN_F_DROUTE as i64),
    ("IP_VS_CONN_F_BYPASS", IP_VS_CONN_F_BYPASS as i64),
    (
        "IP_VS_CONN_F_TUNNEL_TYPE_IPIP",
        IP_VS_CONN_F_TUNNEL_TYPE_IPIP as i64,
    ),
    (
        "IP_VS_CONN_F_TUNNEL_TYPE_GUE",
        IP_VS_CONN_F_TUNNEL_TYPE_GUE as i64,
    ),
    (
        "IP_VS_CONN_F_TUNNEL_TYPE_GRE",
        IP_VS_CONN_F_TUNNEL_TYPE_GRE as i64,
    ),
    (
        "IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM",
        IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM as i64,
    ),
    (
        "IP_VS_TUNNEL_ENCAP_FLAG_CSUM",
        IP_VS_TUNNEL_ENCAP_FLAG_CSUM as i64,
    ),
    (
        "IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM",
        IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM as i64,
    ),
    ("IPVS_CMD_UNSPEC", IPVS_CMD_UNSPEC as i64),
    ("IPVS_CMD_NEW_SERVICE", IPVS_CMD_NEW_SERVICE as i64),
    ("IPVS_CMD_SET_SERVICE", IPVS_CMD_SET_SERVICE as i64),
    ("IPVS_CMD_DEL_SERVICE", IPVS_CMD_DEL_SERVICE as i64),
    ("IPVS_CMD_GET_SERVICE", IPVS_CMD_GET_SERVICE as i64),
    ("IPVS_CMD_NEW_DEST", IPVS_CMD_NEW_DEST as i64),
    ("IPVS_CMD_SET_DEST", IPVS_CMD_SET_DEST as i64),
    ("IPVS_CMD_DEL_DEST", IPVS_CMD_DEL_DEST as i64),
    ("IPVS_CMD_GET_DEST", IPVS_CMD_GET_DEST as i64),
    ("IPVS_CMD_NEW_DAEMON", IPVS_CMD_NEW_DAEMON as i64),
    ("IPVS_CMD_DEL_DAEMON", IPVS_CMD_DEL_DAEMON as i64),
    ("IPVS_CMD_GET_DAEMON", IPVS_CMD_GET_DAEMON as i64),
    ("IPVS_CMD_SET_CONFIG", IPVS_CMD_SET_CONFIG as i64),
    ("IPVS_CMD_GET_CONFIG", IPVS_CMD_GET_CONFIG as i64),
    ("IPVS_CMD_SET_INFO", IPVS_CMD_SET_INFO as i64),
    ("IPVS_CMD_GET_INFO", IPVS_CMD_GET_INFO as i64),
    ("IPVS_CMD_ZERO", IPVS_CMD_ZERO as i64),
    ("IPVS_CMD_FLUSH", IPVS_CMD_FLUSH as i64),
    ("IPVS_CMD_ATTR_SERVICE", IPVS_CMD_ATTR_SERVICE as i64),
    ("IPVS_CMD_ATTR_DEST", IPVS_CMD_ATTR_DEST as i64),
    ("IPVS_CMD_ATTR_DAEMON", IPVS_CMD_ATTR_DAEMON as i64),
    (
        "IPVS_CMD_ATTR_TIMEOUT_TCP",
        IPVS_CMD_ATTR_TIMEOUT_TCP as i64,
    ),
    (
        "IPVS_CMD_ATTR_TIMEOUT_TCP_FIN",
        IPVS_CMD_ATTR_TIMEOUT_TCP_FIN as i64,
    ),
    (
        "IPVS_CMD_ATTR_TIMEOUT_UDP",
        IPVS_CMD_ATTR_TIMEOUT_UDP as i64,
    ),
    ("IPVS_SVC_ATTR_AF", IPVS_SVC_ATTR_AF as i64),
    ("IPVS_SVC_ATTR_PROTOCOL", IPVS_SVC_ATTR_PROTOCOL as i64),
    ("IPVS_SVC_ATTR_ADDR", IPVS_SVC_ATTR_ADDR as i64),
    ("IPVS_SVC_ATTR_PORT", IPVS_SVC_ATTR_PORT as i64),
    ("IPVS_SVC_ATTR_FWMARK", IPVS_SVC_ATTR_FWMARK as i64),
    ("IPVS_SVC_ATTR_SCHED_NAME", IPVS_SVC_ATTR_SCHED_NAME as i64),
    ("IPVS_SVC_ATTR_FLAGS", IPVS_SVC_ATTR_FLAGS as i64),
    ("IPVS_SVC_ATTR_TIMEOUT", IPVS_SVC_ATTR_TIMEOUT as i64),
    ("IPVS_SVC_ATTR_NETMASK", IPVS_SVC_ATTR_NETMASK as i64),
    ("IPVS_SVC_ATTR_STATS", IPVS_SVC_ATTR_STATS as i64),
    ("IPVS_SVC_ATTR_PE_NAME", IPVS_SVC_ATTR_PE_NAME as i64),
    ("IPVS_SVC_ATTR_STATS64", IPVS_SVC_ATTR_STATS64 as i64),
    ("IPVS_DEST_ATTR_ADDR", IPVS_DEST_ATTR_ADDR as i64),
    ("IPVS_DEST_ATTR_PORT", IPVS_DEST_ATTR_PORT as i64),
    (
        "IPVS_DEST_ATTR_FWD_METHOD",
        IPVS_DEST_ATTR_FWD_METHOD as i64,
    ),
    ("IPVS_DEST_ATTR_WEIGHT", IPVS_DEST_ATTR_WEIGHT as i64),
    ("IPVS_DEST_ATTR_U_THRESH", IPVS_DEST_ATTR_U_THRESH as i64),
    ("IPVS_DEST_ATTR_L_THRESH", IPVS_DEST_ATTR_L_THRESH as i64),
    (
        "IPVS_DEST_ATTR_ACTIVE_CONNS",
        IPVS_DEST_ATTR_ACTIVE_CONNS as i64,
    ),
    (
        "IPVS_DEST_ATTR_INACT_CONNS",
        IPVS_DEST_ATTR_INACT_CONNS as i64,
    ),
    (
        "IPVS_DEST_ATTR_PERSIST_CONNS",
        IPVS_DEST_ATTR_PERSIST_CONNS as i64,
    ),
    ("IPVS_DEST_ATTR_STATS", IPVS_DEST_ATTR_STATS as i64),
    (
        "IPVS_DEST_ATTR_ADDR_FAMILY",
        IPVS_DEST_ATTR_ADDR_FAMILY as i64,
    ),
    ("IPVS_DEST_ATTR_STATS64", IPVS_DEST_ATTR_STATS64 as i64),
    ("IPVS_DEST_ATTR_TUN_TYPE", IPVS_DEST_ATTR_TUN_TYPE as i64),
    ("IPVS_DEST_ATTR_TUN_PORT", IPVS_DEST_ATTR_TUN_PORT as i64),
    ("IPVS_DEST_ATTR_TUN_FLAGS", IPVS_DEST_ATTR_TUN_FLAGS as i64),
    ("IPVS_DAEMON_ATTR_STATE", IPVS_DAEMON_ATTR_STATE as i64),
    (
        "IPVS_DAEMON_ATTR_MCAST_IFN",
        IPVS_DAEMON_ATTR_MCAST_IFN as i64,
    ),
    ("IPVS_DAEMON_ATTR_SYNC_ID", IPVS_DAEMON_ATTR_SYNC_ID as i64),
    ("IPVS_STATS_ATTR_CONNS", IPVS_STATS_ATTR_CONNS as i64),
    ("IPVS_STATS_ATTR_INPKTS", IPVS_STATS_ATTR_INPKTS as i64),
    ("IPVS_STATS_ATTR_OUTPKTS", IPVS_STATS_ATTR_OUTPKTS as i64),
    ("IPVS_STATS_ATTR_INBYTES", IPVS_STATS_ATTR_INBYTES as i64),
    ("IPVS_STATS_ATTR_OUTBYTES", IPVS_STATS_ATTR_OUTBYTES as i64),
    ("IPVS_STATS_ATTR_CPS", IPVS_STATS_ATTR_CPS as i64),
    ("IPVS_STATS_ATTR_INPPS", IPVS_STATS_ATTR_INPPS as i64),
    ("IPVS_STATS_ATTR_OUTPPS", IPVS_STATS_ATTR_OUTPPS as i64),
    ("IPVS_STATS_ATTR_INBPS", IPVS_STATS_ATTR_INBPS as i64),
    ("IPVS_STATS_ATTR_OUTBPS", IPVS_STATS_ATTR_OUTBPS as i64),
    ("IPVS_INFO_ATTR_VERSION", IPVS_INFO_ATTR_VERSION as i64),
    (
        "IPVS_INFO_ATTR_CONN_TAB_SIZE",
        IPVS_INFO_ATTR_CONN_TAB_SIZE as i64,
    ),
    ("AF_INET", AF_INET as i64),
    ("AF_INET6", AF_INET6 as i64),
    ("IPPROTO_TCP", IPPROTO_TCP as i64),
    ("IPPROTO_UDP", IPPROTO_UDP as i64),
    ("IPPROTO_SCTP", IPPROTO_SCTP as i64),
];

#[cfg(test)]
mod tests {
    /// Compiles a C program that prints every constant from the installed kernel headers
    /// (Debian's linux-libc-dev) and compares it with ours.
    #[test]
    fn constants_match_the_kernel_headers() {
        let dir = std::env::temp_dir().join(format!("lvsform-consts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut program = String::from(
            "#include <stdio.h>\n#include <sys/socket.h>\n#include <netinet/in.h>\n#include <linux/netlink.h>\n#include <linux/genetlink.h>\n#include <linux/ip_vs.h>\nint main(void) {\n",
        );
        for (name, _) in super::ALL {
            // The header defines the mask as ~(flags), an int; on the wire it is 16 bits.
            let width = if *name == "NLA_TYPE_MASK" {
                "(unsigned short)"
            } else {
                ""
            };
            program.push_str(&format!(
                "  printf(\"%s %lld\\n\", \"{name}\", (long long){width}({name}));\n"
            ));
        }
        program.push_str("  return 0;\n}\n");
        std::fs::write(dir.join("consts.c"), program).unwrap();
        let status = std::process::Command::new("cc")
            .arg("-o")
            .arg(dir.join("consts"))
            .arg(dir.join("consts.c"))
            .status()
            .expect("a C compiler (Debian: build-essential, linux-libc-dev)");
        assert!(status.success(), "the header program does not compile");
        let output = std::process::Command::new(dir.join("consts"))
            .output()
            .unwrap();
        std::fs::remove_dir_all(&dir).ok();
        let printed = String::from_utf8(output.stdout).unwrap();
        let mut checked = 0;
        for (line, (name, ours)) in printed.lines().zip(super::ALL) {
            assert_eq!(
                line,
                format!("{name} {ours}"),
                "{name} differs from the kernel header"
            );
            checked += 1;
        }
        assert_eq!(checked, super::ALL.len());
    }
}
