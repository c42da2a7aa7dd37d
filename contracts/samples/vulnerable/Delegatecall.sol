// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// Runs whatever code the caller names, on its own storage.
contract OpenProxy {
    address public owner;
    address public implementation;

    constructor(address impl) {
        owner = msg.sender;
        implementation = impl;
    }

    function execute(address target, bytes calldata data) external returns (bytes memory) {
        (bool ok, bytes memory out) = target.delegatecall(data); // expect: controlled-delegatecall
        require(ok, "failed");
        return out;
    }

    function executeVia(address target, bytes calldata data) external {
        address hop = target;
        address next = hop;
        (bool ok, ) = next.delegatecall(data); // expect: controlled-delegatecall
        require(ok, "failed");
    }

    fallback() external {
        address target = address(bytes20(msg.data[0:20]));
        (bool ok, ) = target.delegatecall(msg.data[20:]); // expect: controlled-delegatecall
        require(ok, "failed");
    }

    /// Guarded by the owner: reported as low.
    function upgradeAndCall(address next, bytes calldata data) external {
        require(msg.sender == owner, "not owner");
        implementation = next;
        (bool ok, ) = next.delegatecall(data); // expect: controlled-delegatecall
        require(ok, "failed");
    }

    /// The stored implementation: not caller-controlled, not reported.
    function run(bytes calldata data) external {
        (bool ok, ) = implementation.delegatecall(data);
        require(ok, "failed");
    }
}
