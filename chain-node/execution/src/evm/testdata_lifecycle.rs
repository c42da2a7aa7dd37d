//! Contracts for tests of the contract lifecycle (versions, upgrade,
//! freeze, access lists, calls between contracts), here and in other
//! crates (feature `test-utils`). Bytecode constants are lowercase hex
//! without `0x`; ABIs are solc's JSON.
//!
//! Compiled by solc-js 0.8.37 (`0.8.37+commit.f401782d.Emscripten.clang`,
//! `npm pack solc@0.8.37`, run offline with node) from the source below
//! with standard-JSON settings `evmVersion: "prague"`, `optimizer:
//! {enabled: true, runs: 200}`, `metadata: {bytecodeHash: "none",
//! appendCBOR: false}`.
//!
//! ```solidity
//! // SPDX-License-Identifier: Apache-2.0
//! pragma solidity ^0.8.20;
//!
//! /// Version 1 of a permit register: grants per holder and a total.
//! contract PermitsV1 {
//!     mapping(address => uint256) public grants;
//!     uint256 public total;
//!
//!     event Granted(address indexed holder, uint256 total);
//!
//!     function grant(address holder) external returns (uint256) {
//!         grants[holder] += 1;
//!         total += 1;
//!         emit Granted(holder, total);
//!         return total;
//!     }
//!
//!     function version() external pure returns (string memory) {
//!         return "1.0";
//!     }
//! }
//!
//! /// Version 2, the same storage layout: a grant counts twice, and a
//! /// holder's grants can be revoked.
//! contract PermitsV2 {
//!     mapping(address => uint256) public grants;
//!     uint256 public total;
//!
//!     event Granted(address indexed holder, uint256 total);
//!     event Revoked(address indexed holder, uint256 amount);
//!
//!     function grant(address holder) external returns (uint256) {
//!         grants[holder] += 2;
//!         total += 2;
//!         emit Granted(holder, total);
//!         return total;
//!     }
//!
//!     function revoke(address holder) external {
//!         uint256 amount = grants[holder];
//!         total -= amount;
//!         grants[holder] = 0;
//!         emit Revoked(holder, amount);
//!     }
//!
//!     function version() external pure returns (string memory) {
//!         return "2.0";
//!     }
//! }
//!
//! /// Grants permits through another contract (a contract-to-contract call).
//! contract Relay {
//!     function grantVia(address permits, address holder) external returns (uint256) {
//!         return PermitsV1(permits).grant(holder);
//!     }
//! }
//! ```
//!
//! Function selectors: `grant(address)` 70284d19, `grants(address)`
//! b869cea3, `total()` 2ddbd13a, `version()` 54fd4d50, `revoke(address)`
//! 74a8f103, `grantVia(address,address)` cc39481c.

/// Creation code of `PermitsV1` (no constructor arguments).
pub const PERMITS_V1: &str = concat!(
    "6080604052348015600e575f5ffd5b506101d88061001c5f395ff3fe608060405234801561000f575f5ffd5b50600436",
    "1061004a575f3560e01c80632ddbd13a1461004e57806354fd4d501461006a57806370284d191461008f578063b869ce",
    "a3146100a2575b5f5ffd5b61005760015481565b6040519081526020015b60405180910390f35b604080518082018252",
    "60038152620312e360ec1b602082015290516100619190610151565b61005761009d366004610186565b6100c1565b61",
    "00576100b0366004610186565b5f6020819052908152604090205481565b6001600160a01b0381165f90815260208190",
    "526040812080546001919083906100eb9084906101b3565b925050819055506001805f82825461010391906101b3565b",
    "90915550506001546040519081526001600160a01b038316907f640e37a8f90a1d221d5cd8176ab4eb9bc1bd82ce5616",
    "399aca28e613ecf22da49060200160405180910390a2505060015490565b602081525f82518060208401528060208501",
    "604085015e5f604082850101526040601f19601f83011684010191505092915050565b5f60208284031215610196575f",
    "5ffd5b81356001600160a01b03811681146101ac575f5ffd5b9392505050565b808201808211156101d257634e487b71",
    "60e01b5f52601160045260245ffd5b9291505056",
);

/// Runtime code of `PermitsV2` (solc's `evm.deployedBytecode`): what an upgrade of a `PermitsV1` installs.
pub const PERMITS_V2_RUNTIME: &str = concat!(
    "608060405234801561000f575f5ffd5b5060043610610055575f3560e01c80632ddbd13a1461005957806354fd4d5014",
    "61007557806370284d191461009a57806374a8f103146100ad578063b869cea3146100c2575b5f5ffd5b610062600154",
    "81565b6040519081526020015b60405180910390f35b60408051808201825260038152620322e360ec1b602082015290",
    "5161006c91906101f2565b6100626100a8366004610227565b6100e1565b6100c06100bb366004610227565b61017256",
    "5b005b6100626100d0366004610227565b5f6020819052908152604090205481565b6001600160a01b0381165f908152",
    "602081905260408120805460029190839061010b908490610268565b92505081905550600260015f8282546101249190",
    "610268565b90915550506001546040519081526001600160a01b038316907f640e37a8f90a1d221d5cd8176ab4eb9bc1",
    "bd82ce5616399aca28e613ecf22da49060200160405180910390a2505060015490565b6001600160a01b0381165f9081",
    "5260208190526040812054600180549192839261019d908490610281565b90915550506001600160a01b0382165f8181",
    "52602081815260408083209290925590518381527f713b90881ad62c4fa8ab6bd9197fa86481fc0c11b2edba60026514",
    "281b2dbac4910160405180910390a25050565b602081525f82518060208401528060208501604085015e5f6040828501",
    "01526040601f19601f83011684010191505092915050565b5f60208284031215610237575f5ffd5b81356001600160a0",
    "1b038116811461024d575f5ffd5b9392505050565b634e487b7160e01b5f52601160045260245ffd5b80820180821115",
    "61027b5761027b610254565b92915050565b8181038181111561027b5761027b61025456",
);

/// Creation code of `Relay` (no constructor arguments).
pub const RELAY: &str = concat!(
    "6080604052348015600e575f5ffd5b506101288061001c5f395ff3fe608060405234801561000f575f5ffd5b50600436",
    "10610029575f3560e01c8063cc39481c1461002d575b5f5ffd5b61004061003b3660046100e0565b610052565b604051",
    "90815260200160405180910390f35b6040516370284d1960e01b81526001600160a01b0382811660048301525f919084",
    "16906370284d19906024016020604051808303815f875af115801561009a573d5f5f3e3d5ffd5b505050506040513d60",
    "1f19601f820116820180604052508101906100be9190610111565b9392505050565b80356001600160a01b0381168114",
    "6100db575f5ffd5b919050565b5f5f604083850312156100f1575f5ffd5b6100fa836100c5565b915061010860208401",
    "6100c5565b90509250929050565b5f60208284031215610121575f5ffd5b505191905056",
);

/// ABI of `PermitsV1`.
pub const PERMITS_V1_ABI: &str = r#"[{"anonymous":false,"inputs":[{"indexed":true,"internalType":"address","name":"holder","type":"address"},{"indexed":false,"internalType":"uint256","name":"total","type":"uint256"}],"name":"Granted","type":"event"},{"inputs":[{"internalType":"address","name":"holder","type":"address"}],"name":"grant","outputs":[{"internalType":"uint256","name":"","type":"uint256"}],"stateMutability":"nonpayable","type":"function"},{"inputs":[{"internalType":"address","name":"","type":"address"}],"name":"grants","outputs":[{"internalType":"uint256","name":"","type":"uint256"}],"stateMutability":"view","type":"function"},{"inputs":[],"name":"total","outputs":[{"internalType":"uint256","name":"","type":"uint256"}],"stateMutability":"view","type":"function"},{"inputs":[],"name":"version","outputs":[{"internalType":"string","name":"","type":"string"}],"stateMutability":"pure","type":"function"}]"#;

/// ABI of `PermitsV2`.
pub const PERMITS_V2_ABI: &str = r#"[{"anonymous":false,"inputs":[{"indexed":true,"internalType":"address","name":"holder","type":"address"},{"indexed":false,"internalType":"uint256","name":"total","type":"uint256"}],"name":"Granted","type":"event"},{"anonymous":false,"inputs":[{"indexed":true,"internalType":"address","name":"holder","type":"address"},{"indexed":false,"internalType":"uint256","name":"amount","type":"uint256"}],"name":"Revoked","type":"event"},{"inputs":[{"internalType":"address","name":"holder","type":"address"}],"name":"grant","outputs":[{"internalType":"uint256","name":"","type":"uint256"}],"stateMutability":"nonpayable","type":"function"},{"inputs":[{"internalType":"address","name":"","type":"address"}],"name":"grants","outputs":[{"internalType":"uint256","name":"","type":"uint256"}],"stateMutability":"view","type":"function"},{"inputs":[{"internalType":"address","name":"holder","type":"address"}],"name":"revoke","outputs":[],"stateMutability":"nonpayable","type":"function"},{"inputs":[],"name":"total","outputs":[{"internalType":"uint256","name":"","type":"uint256"}],"stateMutability":"view","type":"function"},{"inputs":[],"name":"version","outputs":[{"internalType":"string","name":"","type":"string"}],"stateMutability":"pure","type":"function"}]"#;

/// ABI of `Relay`.
pub const RELAY_ABI: &str = r#"[{"inputs":[{"internalType":"address","name":"permits","type":"address"},{"internalType":"address","name":"holder","type":"address"}],"name":"grantVia","outputs":[{"internalType":"uint256","name":"","type":"uint256"}],"stateMutability":"nonpayable","type":"function"}]"#;
