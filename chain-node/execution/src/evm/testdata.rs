//! Contracts for tests of the EVM engine, here and in other crates
//! (feature `test-utils`): the creation bytecode of two Solidity contracts,
//! and hand-assembled ones. All constants are lowercase hex without `0x`.
//!
//! The Solidity bytecode was produced by solc-js 0.8.37
//! (`0.8.37+commit.f401782d.Emscripten.clang`) from the source below with
//! standard-JSON settings `evmVersion: "prague"`, `optimizer: {enabled:
//! true, runs: 200}`, `metadata: {bytecodeHash: "none", appendCBOR: false}`.
//!
//! ```solidity
//! // SPDX-License-Identifier: Apache-2.0
//! pragma solidity ^0.8.20;
//!
//! /// A counter with an owner, per-caller totals and an event.
//! contract Counter {
//!     uint256 public count;
//!     address public owner;
//!     mapping(address => uint256) public byCaller;
//!
//!     event Incremented(address indexed by, uint256 amount, uint256 newCount);
//!
//!     constructor(uint256 start) {
//!         count = start;
//!         owner = msg.sender;
//!     }
//!
//!     function increment(uint256 amount) external returns (uint256) {
//!         require(amount > 0, "amount must be positive");
//!         count += amount;
//!         byCaller[msg.sender] += amount;
//!         emit Incremented(msg.sender, amount, count);
//!         return count;
//!     }
//!
//!     /// Writes, then reverts: nothing may stay.
//!     function fail() external {
//!         count = 999;
//!         revert("always fails");
//!     }
//!
//!     /// Checked arithmetic: panics with 0x11.
//!     function overflow() external {
//!         count = type(uint256).max;
//!         count += 1;
//!     }
//!
//!     /// Never ends; only gas stops it.
//!     function spin() external {
//!         while (true) {
//!             count += 1;
//!         }
//!     }
//!
//!     function env() external view returns (uint256 chainId, uint256 number, uint256 timestamp, address caller) {
//!         return (block.chainid, block.number, block.timestamp, msg.sender);
//!     }
//! }
//!
//! /// Deploys counters from a contract (CREATE).
//! contract Factory {
//!     event Created(address child);
//!
//!     function create(uint256 start) external returns (address) {
//!         Counter c = new Counter(start);
//!         emit Created(address(c));
//!         return address(c);
//!     }
//! }
//! ```
//!
//! Function selectors: `count()` 06661abd, `owner()` 8da5cb5b,
//! `byCaller(address)` 106e20db, `increment(uint256)` 7cf5dab0, `fail()`
//! a9cc4718, `overflow()` 004264c3, `spin()` f0acd7d5, `env()` 9dca0032,
//! `create(uint256)` 780900dc.

/// Creation code of `Counter` (constructor argument `uint256 start` to append).
pub const COUNTER: &str = concat!(
    "6080604052348015600e575f5ffd5b50604051610358380380610358833981016040819052602b916043565b5f556001",
    "80546001600160a01b031916331790556059565b5f602082840312156052575f5ffd5b5051919050565b6102f2806100",
    "665f395ff3fe608060405234801561000f575f5ffd5b5060043610610084575f3560e01c80638da5cb5b116100585780",
    "638da5cb5b146100df5780639dca00321461010a578063a9cc47181461012d578063f0acd7d514610135575f5ffd5b80",
    "624264c31461008857806306661abd14610092578063106e20db146100ad5780637cf5dab0146100cc575b5f5ffd5b61",
    "009061013d565b005b61009a5f5481565b6040519081526020015b60405180910390f35b61009a6100bb366004610289",
    "565b60026020525f908152604090205481565b61009a6100da3660046102b6565b61015a565b6001546100f290600160",
    "0160a01b031681565b6040516001600160a01b0390911681526020016100a4565b604080514681524360208201524291",
    "8101919091523360608201526080016100a4565b610090610231565b61009061026d565b5f195f818155600191819061",
    "01539084906102cd565b9091555050565b5f5f82116101af5760405162461bcd60e51b81526020600482015260176024",
    "8201527f616d6f756e74206d75737420626520706f73697469766500000000000000000060448201526064015b604051",
    "80910390fd5b815f5f8282546101bf91906102cd565b9091555050335f90815260026020526040812080548492906101",
    "e29084906102cd565b90915550505f5460405133917fcd5ad702c30bb253c9e421ea7f3e00faee62ce859708bfdaf949",
    "788e5ba0fdb59161022291868252602082015260400190565b60405180910390a250505f5490565b6103e75f55604051",
    "62461bcd60e51b815260206004820152600c60248201526b616c77617973206661696c7360a01b604482015260640161",
    "01a6565b60015f5f82825461027e91906102cd565b9091555061026d9050565b5f60208284031215610299575f5ffd5b",
    "81356001600160a01b03811681146102af575f5ffd5b9392505050565b5f602082840312156102c6575f5ffd5b503591",
    "9050565b808201808211156102ec57634e487b7160e01b5f52601160045260245ffd5b9291505056",
);

/// Creation code of `Factory`.
pub const FACTORY: &str = concat!(
    "6080604052348015600e575f5ffd5b506104428061001c5f395ff3fe6080604052348015600e575f5ffd5b5060043610",
    "6026575f3560e01c8063780900dc14602a575b5f5ffd5b6039603536600460d3565b6055565b6040516001600160a01b",
    "03909116815260200160405180910390f35b5f5f8260405160629060c6565b908152602001604051809103905ff08015",
    "80156080573d5f5f3e3d5ffd5b506040516001600160a01b03821681529091507f1449abf21e49fd025f33495e77f7b1",
    "461caefdd3d4bb646424a3f445c4576a5b9060200160405180910390a192915050565b610358806100ea83390190565b",
    "5f6020828403121560e2575f5ffd5b503591905056fe6080604052348015600e575f5ffd5b5060405161035838038061",
    "0358833981016040819052602b916043565b5f55600180546001600160a01b031916331790556059565b5f6020828403",
    "12156052575f5ffd5b5051919050565b6102f2806100665f395ff3fe608060405234801561000f575f5ffd5b50600436",
    "10610084575f3560e01c80638da5cb5b116100585780638da5cb5b146100df5780639dca00321461010a578063a9cc47",
    "181461012d578063f0acd7d514610135575f5ffd5b80624264c31461008857806306661abd14610092578063106e20db",
    "146100ad5780637cf5dab0146100cc575b5f5ffd5b61009061013d565b005b61009a5f5481565b604051908152602001",
    "5b60405180910390f35b61009a6100bb366004610289565b60026020525f908152604090205481565b61009a6100da36",
    "60046102b6565b61015a565b6001546100f2906001600160a01b031681565b6040516001600160a01b03909116815260",
    "20016100a4565b6040805146815243602082015242918101919091523360608201526080016100a4565b610090610231",
    "565b61009061026d565b5f195f81815560019181906101539084906102cd565b9091555050565b5f5f82116101af5760",
    "405162461bcd60e51b815260206004820152601760248201527f616d6f756e74206d75737420626520706f7369746976",
    "6500000000000000000060448201526064015b60405180910390fd5b815f5f8282546101bf91906102cd565b90915550",
    "50335f90815260026020526040812080548492906101e29084906102cd565b90915550505f5460405133917fcd5ad702",
    "c30bb253c9e421ea7f3e00faee62ce859708bfdaf949788e5ba0fdb59161022291868252602082015260400190565b60",
    "405180910390a250505f5490565b6103e75f5560405162461bcd60e51b815260206004820152600c60248201526b616c",
    "77617973206661696c7360a01b60448201526064016101a6565b60015f5f82825461027e91906102cd565b9091555061",
    "026d9050565b5f60208284031215610299575f5ffd5b81356001600160a01b03811681146102af575f5ffd5b93925050",
    "50565b5f602082840312156102c6575f5ffd5b5035919050565b808201808211156102ec57634e487b7160e01b5f5260",
    "1160045260245ffd5b9291505056",
);

/// Init code deploying the runtime `5b600056` (`JUMPDEST PUSH1 0 JUMP`),
/// an endless loop: `PUSH4 5b600056 PUSH1 0 MSTORE PUSH1 4 PUSH1 28 RETURN`.
pub const LOOP: &str = "635b6000566000526004601cf3";

/// Init code returning 24,577 zero bytes, one more than EIP-170 allows:
/// `PUSH2 6001 PUSH1 0 RETURN`.
pub const TOO_BIG: &str = "6160016000f3";

/// Init code returning the single byte `ef` (refused by EIP-3541):
/// `PUSH1 ef PUSH1 0 MSTORE8 PUSH1 1 PUSH1 0 RETURN`.
pub const STARTS_WITH_EF: &str = "60ef60005360016000f3";

/// Init code deploying the runtime `60003560005500`
/// (`PUSH1 0 CALLDATALOAD PUSH1 0 SSTORE STOP`: slot 0 := the first word of
/// the call data): `PUSH7 60003560005500 PUSH1 0 MSTORE PUSH1 7 PUSH1 25
/// RETURN`.
pub const STORE: &str = "666000356000550060005260076019f3";

/// Init code that destroys the contract being created (`CALLER
/// SELFDESTRUCT`); since EIP-6780 that removes it, as it is destroyed in
/// the transaction that created it.
pub const SELFDESTRUCT_ON_CREATE: &str = "33ff";

/// The ABI of `Counter`, as solc writes it (internal types left out).
pub const COUNTER_ABI: &str = r#"[
  {"type":"constructor","inputs":[{"name":"start","type":"uint256"}],"stateMutability":"nonpayable"},
  {"type":"function","name":"byCaller","inputs":[{"name":"","type":"address"}],"outputs":[{"name":"","type":"uint256"}],"stateMutability":"view"},
  {"type":"function","name":"count","inputs":[],"outputs":[{"name":"","type":"uint256"}],"stateMutability":"view"},
  {"type":"function","name":"env","inputs":[],"outputs":[{"name":"chainId","type":"uint256"},{"name":"number","type":"uint256"},{"name":"timestamp","type":"uint256"},{"name":"caller","type":"address"}],"stateMutability":"view"},
  {"type":"function","name":"fail","inputs":[],"outputs":[],"stateMutability":"nonpayable"},
  {"type":"function","name":"increment","inputs":[{"name":"amount","type":"uint256"}],"outputs":[{"name":"","type":"uint256"}],"stateMutability":"nonpayable"},
  {"type":"function","name":"overflow","inputs":[],"outputs":[],"stateMutability":"nonpayable"},
  {"type":"function","name":"owner","inputs":[],"outputs":[{"name":"","type":"address"}],"stateMutability":"view"},
  {"type":"function","name":"spin","inputs":[],"outputs":[],"stateMutability":"nonpayable"},
  {"type":"event","name":"Incremented","inputs":[{"name":"by","type":"address","indexed":true},{"name":"amount","type":"uint256","indexed":false},{"name":"newCount","type":"uint256","indexed":false}],"anonymous":false}
]"#;

/// Runtime code of a forwarder to `target`: it copies its call data,
/// `CALL`s `target` with it and all its gas, and returns the first 32
/// bytes of the answer (`CALLDATASIZE PUSH0 PUSH0 CALLDATACOPY PUSH1 32
/// PUSH0 CALLDATASIZE PUSH0 PUSH0 PUSH20 target GAS CALL POP PUSH1 32
/// PUSH0 RETURN`).
pub fn forwarder_runtime(target: &[u8; 20]) -> Vec<u8> {
    let mut code = vec![0x36, 0x5f, 0x5f, 0x37, 0x60, 0x20, 0x5f, 0x36, 0x5f, 0x5f, 0x73];
    code.extend_from_slice(target);
    code.extend_from_slice(&[0x5a, 0xf1, 0x50, 0x60, 0x20, 0x5f, 0xf3]);
    code
}

/// Init code deploying `runtime` (at most 255 bytes): `PUSH1 len DUP1
/// PUSH1 9 PUSH0 CODECOPY PUSH0 RETURN`, then the runtime.
pub fn deployer_of(runtime: &[u8]) -> Vec<u8> {
    let len = u8::try_from(runtime.len()).unwrap_or(u8::MAX);
    let mut code = vec![0x60, len, 0x80, 0x60, 0x09, 0x5f, 0x39, 0x5f, 0xf3];
    code.extend_from_slice(runtime);
    code
}
