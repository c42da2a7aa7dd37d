// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// Saves gas by skipping overflow checks.
contract Tally {
    uint256 public count;

    function add(uint256 n) external {
        unchecked { // expect: unchecked-block
            count += n;
        }
    }
}
