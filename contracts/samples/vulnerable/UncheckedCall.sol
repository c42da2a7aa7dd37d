// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// Pays out and never looks whether the payment went through.
contract CarelessPayer {
    address public owner;

    constructor() {
        owner = msg.sender;
    }

    function pay(address payable to, uint256 amount) external {
        require(msg.sender == owner, "not owner");
        to.call{value: amount}(""); // expect: unchecked-call
    }

    function paySend(address payable to, uint256 amount) external {
        require(msg.sender == owner, "not owner");
        to.send(amount); // expect: unchecked-call
    }

    function forward(address target, bytes calldata data) external returns (bytes memory) {
        require(msg.sender == owner, "not owner");
        (bool ok, bytes memory result) = target.call(data); // expect: unchecked-call
        return result;
    }

    /// Checked: not reported.
    function payChecked(address payable to, uint256 amount) external {
        require(msg.sender == owner, "not owner");
        (bool ok, ) = to.call{value: amount}("");
        require(ok, "payment failed");
        bool sent = to.send(0);
        if (!sent) revert("send failed");
    }
}
