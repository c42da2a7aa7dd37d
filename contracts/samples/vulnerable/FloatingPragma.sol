// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20; // expect: floating-pragma

/// Built with whatever 0.8 compiler is at hand.
contract Floating {
    uint256 public value;

    function set(uint256 v) external {
        value = v;
    }
}
