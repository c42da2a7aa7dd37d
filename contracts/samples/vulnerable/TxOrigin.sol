// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// A wallet that trusts tx.origin: any contract its owner calls can drain it.
contract OriginWallet {
    address public owner;

    constructor() {
        owner = msg.sender;
    }

    function withdraw(address payable to, uint256 amount) external {
        require(tx.origin == owner, "not owner"); // expect: tx-origin
        to.transfer(amount);
    }

    function setOwner(address next) external {
        if (tx.origin != owner) { // expect: tx-origin
            revert("not owner");
        }
        owner = next;
    }

    /// Only externally owned accounts may call: not an authorization, not reported.
    function ping() external view returns (bool) {
        require(tx.origin == msg.sender, "no contracts");
        return msg.sender == owner;
    }
}
