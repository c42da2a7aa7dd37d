// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// Anyone can close it.
contract Killable {
    address public owner;

    modifier onlyOwner() {
        require(msg.sender == owner, "not owner");
        _;
    }

    constructor() {
        owner = msg.sender;
    }

    function kill() public {
        selfdestruct(payable(msg.sender)); // expect: reachable-selfdestruct
    }

    function close() external {
        _destroy(); // expect: reachable-selfdestruct
    }

    /// Owner only: not reported.
    function shutdown() external onlyOwner {
        selfdestruct(payable(owner));
    }

    function _destroy() internal {
        selfdestruct(payable(owner));
    }
}
