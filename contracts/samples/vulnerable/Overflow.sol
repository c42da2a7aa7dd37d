// SPDX-License-Identifier: Apache-2.0
pragma solidity >=0.7.0 <0.9.0; // expect: floating-pragma

/// Written for 0.7 and older, where integers wrap silently.
contract OldToken {
    mapping(address => uint256) public balanceOf;
    uint256 public totalSupply;

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount; // expect: overflow
        totalSupply = totalSupply + amount; // expect: overflow
    }

    function burn(uint256 amount) external {
        balanceOf[msg.sender] -= amount; // expect: overflow
        totalSupply--; // expect: overflow
    }

    function price(uint256 units, uint256 each) external pure returns (uint256) {
        return units * each; // expect: overflow
    }
}
